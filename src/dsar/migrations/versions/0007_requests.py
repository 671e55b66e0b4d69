"""Privacy requests as cases: the requests (the record), their timeline, their engine tasks

Revision ID: 0007_requests
Revises: 0001
Create Date: 2026-12-04 23:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import dsar.db.base

revision = "0007_requests"
down_revision = "0001"
branch_labels = None
depends_on = None


def _utc(name: str, nullable: bool) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, dsar.db.base.UtcDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "privacy_requests",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("jurisdiction", sa.String(length=16), nullable=True),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("subject_ref", sa.String(length=32), nullable=False),
        sa.Column("subject_masked", sa.String(length=320), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        _utc("received_at", False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("extendable_until", sa.Date(), nullable=True),
        sa.Column("extended_on", sa.Date(), nullable=True),
        sa.Column("extension_reason", sa.Text(), nullable=True),
        sa.Column("confirm_by", sa.Date(), nullable=True),
        sa.Column("assignee", sa.String(length=128), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.Column("decision_basis", sa.String(length=32), nullable=True),
        sa.Column("decision_law", sa.String(length=200), nullable=True),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        _utc("decided_at", True),
        sa.Column("withheld", sa.JSON(), nullable=True),
        _utc("responded_at", True),
        sa.Column("purge_after", sa.Date(), nullable=True),
        _utc("updated_at", False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_requests")),
    )
    with op.batch_alter_table("privacy_requests", schema=None) as batch_op:
        batch_op.create_index("ix_privacy_requests_tenant_received", ["tenant", "received_at", "id"], unique=False)
        batch_op.create_index("ix_privacy_requests_tenant_status_due", ["tenant", "status", "due_on"], unique=False)
        batch_op.create_index("ix_privacy_requests_subject", ["tenant", "subject_ref"], unique=False)
        batch_op.create_index("ix_privacy_requests_purge", ["purge_after"], unique=False)
    op.create_table(
        "privacy_request_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        _utc("at", False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["privacy_requests.id"],
            name=op.f("fk_privacy_request_events_request_id_privacy_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_request_events")),
    )
    with op.batch_alter_table("privacy_request_events", schema=None) as batch_op:
        batch_op.create_index("ix_privacy_request_events_request", ["request_id", "id"], unique=False)
    op.create_table(
        "privacy_request_tasks",
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["privacy_requests.id"],
            name=op.f("fk_privacy_request_tasks_request_id_privacy_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("request_id", "task_id", name=op.f("pk_privacy_request_tasks")),
    )
    with op.batch_alter_table("privacy_request_tasks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_privacy_request_tasks_task_id"), ["task_id"], unique=False)


def downgrade() -> None:
    op.drop_table("privacy_request_tasks")
    op.drop_table("privacy_request_events")
    op.drop_table("privacy_requests")
