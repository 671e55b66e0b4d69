"""privacy_tasks: partial index of the queue in due order (claims read it from the start)

Revision ID: 0007_queue_index
Revises: 0006_fair_claims
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_queue_index"
down_revision = "0006_fair_claims"
branch_labels = None
depends_on = None

_QUEUED = sa.text("status IN ('IN_PROGRESS', 'ON_HOLD')")


def upgrade() -> None:
    op.create_index(
        "ix_privacy_tasks_queue",
        "privacy_tasks",
        ["due_at"],
        unique=False,
        sqlite_where=_QUEUED,
        postgresql_where=_QUEUED,
    )


def downgrade() -> None:
    op.drop_index("ix_privacy_tasks_queue", table_name="privacy_tasks")
