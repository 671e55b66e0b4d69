"""privacy_tasks.subject_email becomes text: it holds the sealed e-mail when encryption at rest is on

Revision ID: 0008_sealed_tasks
Revises: 0006_fair_claims

Rows written before stay as they are (a value without the `dsar-sealed:v1:` prefix reads in clear); the
migration has no key, so it encrypts nothing (docs/encryption.md).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_sealed_tasks"
down_revision = "0006_fair_claims"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("privacy_tasks") as batch:
        batch.alter_column(
            "subject_email", existing_type=sa.String(length=320), type_=sa.Text(), existing_nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("privacy_tasks") as batch:
        batch.alter_column(
            "subject_email", existing_type=sa.Text(), type_=sa.String(length=320), existing_nullable=False
        )
