"""Data Portability: revoked authorizations, daily quotas per app and scope

Revision ID: 0005_revocations
Revises: 0003_portability
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import dsar.db.base

revision = "0005_revocations"
down_revision = "0003_portability"
branch_labels = None
depends_on = None

_TS = dsar.db.base.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "portability_revocations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("app_id", sa.String(length=36), nullable=False),
        sa.Column("subject_ref", sa.String(length=32), nullable=True),
        sa.Column("revoked_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portability_revocations")),
    )
    with op.batch_alter_table("portability_revocations") as batch:
        batch.create_index(
            batch.f("ix_portability_revocations_app_id_subject_ref"), ["app_id", "subject_ref"], unique=False
        )
    op.create_table(
        "portability_daily_counts",
        sa.Column("app_id", sa.String(length=36), nullable=False),
        sa.Column("scope_id", sa.String(length=100), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("app_id", "scope_id", "day", name=op.f("pk_portability_daily_counts")),
    )
    with op.batch_alter_table("portability_apps") as batch:
        batch.add_column(sa.Column("daily_quota", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("portability_apps") as batch:
        batch.drop_column("daily_quota")
    op.drop_table("portability_daily_counts")
    with op.batch_alter_table("portability_revocations") as batch:
        batch.drop_index(batch.f("ix_portability_revocations_app_id_subject_ref"))
    op.drop_table("portability_revocations")
