"""privacy_center_requesters: the e-mails and an agent's name become text, sealed when encryption at rest is on

Revision ID: 0012_sealed_requesters
Revises: 0010_privacy_center

Rows written before stay in clear and read as before; `dsar keys rotate` seals them (docs/encryption.md).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_sealed_requesters"
down_revision = "0010_privacy_center"
branch_labels = None
depends_on = None

_COLUMNS = (("email", 320, False), ("agent_email", 320, True), ("agent_name", 200, True))


def upgrade() -> None:
    with op.batch_alter_table("privacy_center_requesters") as batch:
        for name, length, nullable in _COLUMNS:
            batch.alter_column(
                name, existing_type=sa.String(length=length), type_=sa.Text(), existing_nullable=nullable
            )


def downgrade() -> None:
    with op.batch_alter_table("privacy_center_requesters") as batch:
        for name, length, nullable in _COLUMNS:
            batch.alter_column(
                name, existing_type=sa.Text(), type_=sa.String(length=length), existing_nullable=nullable
            )
