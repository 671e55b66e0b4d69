"""privacy_tasks: partial indexes of the queue in due order (claims read them from the start)

`ix_privacy_tasks_queue`: every queued task by due time. `ix_privacy_tasks_due_single` (0006) is rebuilt in
due order over queued single requests only: on (status, due_at) a claim read and sorted every due row.

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

_QUEUED = "status IN ('IN_PROGRESS', 'ON_HOLD')"


def _index(name: str, columns: list[str], where: str) -> None:
    clause = sa.text(where)
    op.create_index(name, "privacy_tasks", columns, unique=False, sqlite_where=clause, postgresql_where=clause)


def upgrade() -> None:
    _index("ix_privacy_tasks_queue", ["due_at"], _QUEUED)
    op.drop_index("ix_privacy_tasks_due_single", table_name="privacy_tasks")
    _index("ix_privacy_tasks_due_single", ["due_at"], f"batch_id IS NULL AND {_QUEUED}")


def downgrade() -> None:
    op.drop_index("ix_privacy_tasks_due_single", table_name="privacy_tasks")
    _index("ix_privacy_tasks_due_single", ["status", "due_at"], "batch_id IS NULL")
    op.drop_index("ix_privacy_tasks_queue", table_name="privacy_tasks")
