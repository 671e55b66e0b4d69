"""Privacy requests: subjects' preferences (restriction, objection, opt-out), reminders sent, an index for them

Revision ID: 0009_requests_preferences
Revises: 0007_requests
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import dsar.db.base

_OPEN = sa.text("status IN ('received', 'in_progress')")

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
        batch_op.add_column(sa.Column("response_days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("late", sa.Boolean(), nullable=True))
        batch_op.create_index("ix_privacy_requests_status_due", ["status", "due_on"], unique=False)
        batch_op.create_index(
            "ix_privacy_requests_tenant_status_received", ["tenant", "status", "received_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_privacy_requests_tenant_type_received", ["tenant", "type", "received_at", "id"], unique=False
        )
    op.create_index(
        "ix_privacy_requests_open_received",
        "privacy_requests",
        ["tenant", "received_at", "id"],
        unique=False,
        sqlite_where=_OPEN,
        postgresql_where=_OPEN,
    )
    # Requests answered before this revision: their days to respond and whether late, as the service now keeps
    # them (the day of the answer taken in UTC here: the migration does not know the company's time zone).
    t = sa.table(
        "privacy_requests",
        sa.column("id", sa.String()),
        sa.column("received_on", sa.Date()),
        sa.column("due_on", sa.Date()),
        sa.column("responded_at", dsar.db.base.UtcDateTime(timezone=True)),
        sa.column("response_days", sa.Integer()),
        sa.column("late", sa.Boolean()),
    )
    bind = op.get_bind()
    answered = bind.execute(
        sa.select(t.c.id, t.c.received_on, t.c.due_on, t.c.responded_at).where(t.c.responded_at.is_not(None))
    )
    for rid, received, due, responded in answered.all():
        day = responded.date()
        bind.execute(t.update().where(t.c.id == rid).values(response_days=(day - received).days, late=day > due))


def downgrade() -> None:
    op.drop_index("ix_privacy_requests_open_received", table_name="privacy_requests")
    with op.batch_alter_table("privacy_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_privacy_requests_tenant_type_received")
        batch_op.drop_index("ix_privacy_requests_tenant_status_received")
        batch_op.drop_index("ix_privacy_requests_status_due")
        batch_op.drop_column("late")
        batch_op.drop_column("response_days")
        batch_op.drop_column("reminded_for")
    op.drop_table("privacy_preferences")
