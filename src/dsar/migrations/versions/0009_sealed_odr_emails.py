"""odr_sign_ins.email and odr_refresh_tokens.email become text: they hold sealed e-mails with encryption on

Revision ID: 0009_sealed_odr
Revises: 0004_odr

Rows written before stay as they are (read in clear); sign-ins and refresh tokens expire within days.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_sealed_odr"
down_revision = "0004_odr"
branch_labels = None
depends_on = None

_COLUMNS = (("odr_sign_ins", True), ("odr_refresh_tokens", False))


def upgrade() -> None:
    for table, nullable in _COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                "email", existing_type=sa.String(length=320), type_=sa.Text(), existing_nullable=nullable
            )


def downgrade() -> None:
    for table, nullable in _COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                "email", existing_type=sa.Text(), type_=sa.String(length=320), existing_nullable=nullable
            )
