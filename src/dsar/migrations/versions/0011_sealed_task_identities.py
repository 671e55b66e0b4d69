"""privacy_tasks.subject_identities becomes text: it holds the sealed identities when encryption at rest is on

Revision ID: 0011_sealed_task_identities
Revises: 0008_task_identities

Rows written before keep their JSON text, which reads as before; `dsar keys rotate` seals them
(docs/encryption.md). The migration has no key, so it encrypts nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_sealed_task_identities"
down_revision = "0008_task_identities"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("privacy_tasks") as batch:
        batch.alter_column(
            "subject_identities",
            existing_type=sa.JSON(),
            type_=sa.Text(),
            existing_nullable=True,
            postgresql_using="subject_identities::text",
        )


def downgrade() -> None:
    with op.batch_alter_table("privacy_tasks") as batch:
        batch.alter_column(
            "subject_identities",
            existing_type=sa.Text(),
            type_=sa.JSON(),
            existing_nullable=True,
            postgresql_using="subject_identities::json",
        )
