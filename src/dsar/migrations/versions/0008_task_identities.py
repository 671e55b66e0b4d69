"""Privacy tasks keep identities besides the e-mail (a phone, a customer id)

Revision ID: 0008_task_identities
Revises: 0001
Create Date: 2026-12-05 04:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_task_identities"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("privacy_tasks") as batch:
        batch.add_column(sa.Column("subject_identities", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("privacy_tasks") as batch:
        batch.drop_column("subject_identities")
