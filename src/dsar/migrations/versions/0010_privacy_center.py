"""The privacy center: identity checks, whom to write to about a case, verification e-mail budgets

Revision ID: 0010_privacy_center
Revises: 0001
Create Date: 2026-12-05 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import dsar.db.base

revision = "0010_privacy_center"
down_revision = "0001"
branch_labels = None
depends_on = None


def _utc(name: str, nullable: bool) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, dsar.db.base.UtcDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "verification_challenges",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=True),
        sa.Column("subject_ref", sa.String(length=32), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _utc("created_at", False),
        _utc("expires_at", False),
        _utc("verified_at", True),
        sa.Column("failed", sa.Boolean(), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("oidc_state", sa.String(length=64), nullable=True),
        sa.Column("oidc_nonce", sa.String(length=64), nullable=True),
        sa.Column("oidc_verifier", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_verification_challenges_expiry", "verification_challenges", ["expires_at"])
    op.create_index("ix_verification_challenges_oidc_state", "verification_challenges", ["oidc_state"])
    op.create_table(
        "privacy_center_requesters",
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("agent_email", sa.String(length=320), nullable=True),
        sa.Column("agent_name", sa.String(length=200), nullable=True),
        sa.Column("agent_document", sa.String(length=36), nullable=True),
        _utc("confirmed_at", True),
        _utc("verified_at", True),
        _utc("completed_at", True),
        _utc("reminded_at", True),
        _utc("ended_at", True),
        _utc("created_at", False),
        sa.PrimaryKeyConstraint("request_id"),
    )
    op.create_table(
        "verification_budgets",
        sa.Column("subject_ref", sa.String(length=32), nullable=False),
        _utc("window_start", False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("subject_ref"),
    )


def downgrade() -> None:
    op.drop_table("verification_budgets")
    op.drop_table("privacy_center_requesters")
    op.drop_index("ix_verification_challenges_oidc_state", table_name="verification_challenges")
    op.drop_index("ix_verification_challenges_expiry", table_name="verification_challenges")
    op.drop_table("verification_challenges")
