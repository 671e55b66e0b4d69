"""rate_limit_windows: fixed-window counters of the rate limits (POST /token failures, ODR sign-ins)

Revision ID: 0008_rate_limits
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_rate_limits"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_windows",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start", name=op.f("pk_rate_limit_windows")),
    )
    op.create_index(op.f("ix_rate_limit_windows_window_start"), "rate_limit_windows", ["window_start"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_rate_limit_windows_window_start"), table_name="rate_limit_windows")
    op.drop_table("rate_limit_windows")
