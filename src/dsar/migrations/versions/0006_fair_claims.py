"""privacy_tasks: partial index of due tasks that no batch started (single requests are claimed first)

Revision ID: 0006_fair_claims
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_fair_claims"
down_revision = "0002"
branch_labels = None
depends_on = None

_SINGLE = sa.text("batch_id IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_privacy_tasks_due_single",
        "privacy_tasks",
        ["status", "due_at"],
        unique=False,
        sqlite_where=_SINGLE,
        postgresql_where=_SINGLE,
    )


def downgrade() -> None:
    op.drop_index("ix_privacy_tasks_due_single", table_name="privacy_tasks")
