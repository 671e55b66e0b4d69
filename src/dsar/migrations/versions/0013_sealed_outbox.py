"""notification_outbox.fields becomes text: a queued e-mail's address and bodies are sealed when encryption
at rest is on

Revision ID: 0013_sealed_outbox
Revises: 0005_revocations

Rows written before keep their JSON text, which reads as before; `dsar keys rotate` seals the ones still
held (docs/encryption.md).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_sealed_outbox"
down_revision = "0005_revocations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notification_outbox") as batch:
        batch.alter_column(
            "fields", existing_type=sa.JSON(), type_=sa.Text(), existing_nullable=False, postgresql_using="fields::text"
        )


def downgrade() -> None:
    with op.batch_alter_table("notification_outbox") as batch:
        batch.alter_column(
            "fields", existing_type=sa.Text(), type_=sa.JSON(), existing_nullable=False, postgresql_using="fields::json"
        )
