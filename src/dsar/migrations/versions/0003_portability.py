"""Data Portability: apps, data queries, grants, stored responses, rate counters; notifications outbox,
subscriptions, delivery log and signing keys; webhook subscriptions and their events

Revision ID: 0003_portability
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import dsar.db.base

revision = "0003_portability"
down_revision = "0002"
branch_labels = None
depends_on = None

_TS = dsar.db.base.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "portability_apps",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("notify_url", sa.String(length=2000), nullable=False),
        sa.Column("rate_limit", sa.Integer(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portability_apps")),
    )
    op.create_table(
        "portability_queries",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("app_id", sa.String(length=36), nullable=False),
        sa.Column("subject_ref", sa.String(length=32), nullable=False),
        sa.Column("scope_id", sa.String(length=100), nullable=False),
        sa.Column("active_key", sa.String(length=200), nullable=True),
        sa.Column("since", _TS, nullable=True),
        sa.Column("records", sa.JSON(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portability_queries")),
        sa.UniqueConstraint("active_key", name=op.f("uq_portability_queries_active_key")),
    )
    with op.batch_alter_table("portability_queries") as batch:
        batch.create_index(batch.f("ix_portability_queries_app_id"), ["app_id"], unique=False)
    op.create_table(
        "portability_grant_uses",
        sa.Column("grant_key", sa.String(length=64), nullable=False),
        sa.Column("query_id", sa.String(length=36), nullable=False),
        sa.Column("used_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("grant_key", name=op.f("pk_portability_grant_uses")),
    )
    op.create_table(
        "portability_responses",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_portability_responses")),
    )
    with op.batch_alter_table("portability_responses") as batch:
        batch.create_index(batch.f("ix_portability_responses_expires_at"), ["expires_at"], unique=False)
    op.create_table(
        "portability_rate_counters",
        sa.Column("app_id", sa.String(length=36), nullable=False),
        sa.Column("window_start", _TS, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("app_id", "window_start", name=op.f("pk_portability_rate_counters")),
    )
    op.create_table(
        "sns_subscriptions",
        sa.Column("app_id", sa.String(length=36), nullable=False),
        sa.Column("endpoint", sa.String(length=2000), nullable=False),
        sa.Column("token", sa.String(length=128), nullable=False),
        sa.Column("confirmed_at", _TS, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("app_id", name=op.f("pk_sns_subscriptions")),
        sa.UniqueConstraint("token", name=op.f("uq_sns_subscriptions_token")),
    )
    op.create_table(
        "notification_outbox",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("app_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("next_attempt_at", _TS, nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_expires", _TS, nullable=True),
        sa.Column("delivered_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_outbox")),
    )
    with op.batch_alter_table("notification_outbox") as batch:
        batch.create_index("ix_notification_outbox_due", ["status", "next_attempt_at"], unique=False)
        batch.create_index(batch.f("ix_notification_outbox_app_id"), ["app_id"], unique=False)
    op.create_table(
        "notification_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("attempted_at", _TS, nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_deliveries")),
    )
    with op.batch_alter_table("notification_deliveries") as batch:
        batch.create_index(batch.f("ix_notification_deliveries_message_id"), ["message_id"], unique=False)
    op.create_table(
        "sns_signing_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("private_pem", sa.Text(), nullable=False),
        sa.Column("cert_pem", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sns_signing_keys")),
    )
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscriptions")),
    )
    op.create_table(
        "webhook_events",
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("subscription_id", "task_id", name=op.f("pk_webhook_events")),
    )


def downgrade() -> None:
    for table in (
        "webhook_events",
        "webhook_subscriptions",
        "sns_signing_keys",
        "notification_deliveries",
        "notification_outbox",
        "sns_subscriptions",
        "portability_rate_counters",
        "portability_responses",
        "portability_grant_uses",
        "portability_queries",
        "portability_apps",
    ):
        op.drop_table(table)
