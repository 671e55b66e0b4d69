"""webhook_events: a sequence number in the key, so a privacy request's changes (request id + timeline line)
are queued once each, like a task's end (seq 0)

Revision ID: 0008_case_webhook_events
Revises: 0005_revocations
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_case_webhook_events"
down_revision = "0005_revocations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.Integer(), nullable=False, server_default="0"))
        batch_op.drop_constraint("pk_webhook_events", type_="primary")
        batch_op.create_primary_key("pk_webhook_events", ["subscription_id", "task_id", "seq"])


def downgrade() -> None:
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.drop_constraint("pk_webhook_events", type_="primary")
        batch_op.create_primary_key("pk_webhook_events", ["subscription_id", "task_id"])
        batch_op.drop_column("seq")
