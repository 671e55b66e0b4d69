"""Privacy requests: subjects' preferences (restriction, objection, opt-out), reminders sent, an index for them

Revision ID: 0009_requests_preferences
Revises: 0007_requests
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import dsar.db.base

revision = "0009_requests_preferences"
down_revision = "0007_requests"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "privacy_preferences",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("subject_ref", sa.String(length=32), nullable=False),
        sa.Column("preference", sa.String(length=32), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=True),
        sa.Column("request_id", sa.String(length=36), nullable=True),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.Column("updated_at", dsar.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "subject_ref", "preference", name=op.f("pk_privacy_preferences")),
    )
    with op.batch_alter_table("privacy_preferences", schema=None) as batch_op:
        batch_op.create_index("ix_privacy_preferences_changed", ["tenant", "updated_at"], unique=False)
    with op.batch_alter_table("privacy_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reminded_for", sa.Date(), nullable=True))
        batch_op.create_index("ix_privacy_requests_status_due", ["status", "due_on"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("privacy_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_privacy_requests_status_due")
        batch_op.drop_column("reminded_for")
    op.drop_table("privacy_preferences")
