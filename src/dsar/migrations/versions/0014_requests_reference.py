"""Privacy requests: an index on (tenant, id) for the console's search by reference (the id's first hex digits)

Revision ID: 0014_requests_reference
Revises: 0009_requests_queue
Create Date: 2026-12-05 23:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0014_requests_reference"
down_revision = "0009_requests_queue"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("privacy_requests", schema=None) as batch_op:
        batch_op.create_index("ix_privacy_requests_tenant_id", ["tenant", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("privacy_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_privacy_requests_tenant_id")
