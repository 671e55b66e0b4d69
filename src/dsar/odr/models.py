"""Tables of the Open Data Rights face. The request itself is a `privacy_tasks` row (channel "odr").

Secrets (sign-in codes, authorization codes, refresh tokens) are stored only as keyed hashes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dsar.db.base import Base, UtcDateTime
from dsar.db.sealed import SealedText


class OdrRequest(Base):
    """What an ODR request asked for; `id` is the id of its privacy task."""

    __tablename__ = "odr_requests"
    __table_args__ = (Index("ix_odr_requests_subject", "subject_ref", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subject_ref: Mapped[str] = mapped_column(String(32))
    client_id: Mapped[str] = mapped_column(String(64))
    data_types: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Set when the task found no data at all: the ODR face still hands out an archive (folder, README).
    archive_key: Mapped[str | None] = mapped_column(String(300), default=None)


class OdrAccount(Base):
    """Per person: the row a new request locks (the in-progress limit) and the sign-in e-mail budget."""

    __tablename__ = "odr_accounts"

    subject_ref: Mapped[str] = mapped_column(String(32), primary_key=True)
    mail_window_start: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    mails_sent: Mapped[int] = mapped_column(Integer, default=0)


class OdrSignIn(Base):
    """One run of the authorize page: the client's request, the e-mailed code, then the authorization code."""

    __tablename__ = "odr_sign_ins"
    __table_args__ = (
        Index("ix_odr_sign_ins_code", "code_hash", unique=True),
        Index("ix_odr_sign_ins_oidc_state", "oidc_state", unique=True),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # random, travels in the page's form
    client_id: Mapped[str] = mapped_column(String(64))
    redirect_uri: Mapped[str] = mapped_column(Text)
    code_challenge: Mapped[str | None] = mapped_column(String(128), default=None)  # None: a plain (Aeon) client
    state: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    email: Mapped[str | None] = mapped_column(SealedText("odr_sign_ins.email"), default=None)
    otp_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    otp_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    otp_attempts: Mapped[int] = mapped_column(Integer, default=0)
    code_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    code_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    code_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    # Signing in through the company's OpenID Connect provider: our state, nonce and PKCE verifier there.
    oidc_state: Mapped[str | None] = mapped_column(String(64), default=None)
    oidc_nonce: Mapped[str | None] = mapped_column(String(64), default=None)
    oidc_verifier: Mapped[str | None] = mapped_column(String(128), default=None)


class OdrRefreshToken(Base):
    """A refresh token (hashed); each use rotates it within its family, a reused one revokes the family."""

    __tablename__ = "odr_refresh_tokens"
    __table_args__ = (Index("ix_odr_refresh_tokens_family", "family"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    family: Mapped[str] = mapped_column(String(64))  # the sign-in it descends from
    email: Mapped[str] = mapped_column(SealedText("odr_refresh_tokens.email"))
    client_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
