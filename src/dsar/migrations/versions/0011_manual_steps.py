"""Manual steps: a person answers for a data-map source with no API

Revision ID: 0011_manual_steps
Revises: 0001
Create Date: 2026-12-05 04:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import dsar.db.base

revision = "0011_manual_steps"
down_revision = "0001"
branch_labels = None
depends_on = None


def _utc(name: str, nullable: bool) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, dsar.db.base.UtcDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "manual_steps",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        _utc("created_at", False),
        _utc("deadline_at", False),
        _utc("remind_at", False),
        sa.Column("reminders", sa.Integer(), nullable=False),
        _utc("answered_at", True),
        sa.Column("answered_by", sa.String(length=16), nullable=True),
        _utc("purged_at", True),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ux_manual_steps_task_source", "manual_steps", ["task_id", "source"], unique=True)
    op.create_index("ix_manual_steps_pending", "manual_steps", ["status", "remind_at"])


def downgrade() -> None:
    op.drop_index("ix_manual_steps_pending", table_name="manual_steps")
    op.drop_index("ux_manual_steps_task_source", table_name="manual_steps")
    op.drop_table("manual_steps")
