"""Privacy requests: an index for the console's queue in due-date order (keyset on due_on, id)

Revision ID: 0009_requests_queue
Revises: 0007_requests
Create Date: 2026-12-05 04:10:00
"""

from __future__ import annotations

from alembic import op

revision = "0009_requests_queue"
down_revision = "0007_requests"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("privacy_requests", schema=None) as batch_op:
        batch_op.create_index("ix_privacy_requests_tenant_due", ["tenant", "due_on", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("privacy_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_privacy_requests_tenant_due")
