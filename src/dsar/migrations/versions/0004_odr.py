"""Open Data Rights: requests, accounts (limits), sign-ins (codes), refresh tokens

Revision ID: 0004_odr
Revises: 0001
Create Date: 2026-11-23 12:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import dsar.db.base

revision = "0004_odr"
down_revision = "0001"
branch_labels = None
depends_on = None


def _utc(name: str, nullable: bool) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, dsar.db.base.UtcDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "odr_requests",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("subject_ref", sa.String(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("data_types", sa.JSON(), nullable=False),
        _utc("created_at", False),
        sa.Column("archive_key", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_odr_requests")),
    )
    with op.batch_alter_table("odr_requests", schema=None) as batch_op:
        batch_op.create_index("ix_odr_requests_subject", ["subject_ref", "created_at"], unique=False)
    op.create_table(
        "odr_accounts",
        sa.Column("subject_ref", sa.String(length=32), nullable=False),
        _utc("mail_window_start", True),
        sa.Column("mails_sent", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("subject_ref", name=op.f("pk_odr_accounts")),
    )
    op.create_table(
        "odr_sign_ins",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("code_challenge", sa.String(length=128), nullable=True),
        sa.Column("state", sa.Text(), nullable=True),
        _utc("created_at", False),
        _utc("expires_at", False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("otp_hash", sa.String(length=64), nullable=True),
        _utc("otp_expires_at", True),
        sa.Column("otp_attempts", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=True),
        _utc("code_expires_at", True),
        _utc("code_used_at", True),
        sa.Column("oidc_state", sa.String(length=64), nullable=True),
        sa.Column("oidc_nonce", sa.String(length=64), nullable=True),
        sa.Column("oidc_verifier", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_odr_sign_ins")),
    )
    with op.batch_alter_table("odr_sign_ins", schema=None) as batch_op:
        batch_op.create_index("ix_odr_sign_ins_code", ["code_hash"], unique=True)
        batch_op.create_index("ix_odr_sign_ins_oidc_state", ["oidc_state"], unique=True)
    op.create_table(
        "odr_refresh_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("family", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        _utc("created_at", False),
        _utc("expires_at", False),
        _utc("used_at", True),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_odr_refresh_tokens")),
    )
    with op.batch_alter_table("odr_refresh_tokens", schema=None) as batch_op:
        batch_op.create_index("ix_odr_refresh_tokens_family", ["family"], unique=False)


def downgrade() -> None:
    op.drop_table("odr_refresh_tokens")
    op.drop_table("odr_sign_ins")
    op.drop_table("odr_accounts")
    op.drop_table("odr_requests")
