"""The privacy center's tables, owned by `dsar.verification`.

`verification_challenges`: one identity check (an e-mailed code, an OIDC sign-in, data-point answers), the code
only as a keyed hash. `privacy_center_requesters`: whom to write to about a case (the case itself holds only a
keyed hash and a masked e-mail; sealed at rest), their language, and an agent's permission document.
`verification_budgets`: verification e-mails per address per hour, keyed by the subject's hash.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from dsar.db.base import Base, UtcDateTime
from dsar.db.sealed import SealedText


class Challenge(Base):
    __tablename__ = "verification_challenges"
    __table_args__ = (Index("ix_verification_challenges_expiry", "expires_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # random, in the page's URL
    purpose: Mapped[str] = mapped_column(String(16))  # submit | status | confirm (an agent's principal)
    request_id: Mapped[str | None] = mapped_column(String(36), default=None)
    subject_ref: Mapped[str] = mapped_column(String(32))
    code_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    failed: Mapped[bool] = mapped_column(Boolean, default=False)
    step: Mapped[str] = mapped_column(String(16), default="code")  # code | data_points | done
    oidc_state: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    oidc_nonce: Mapped[str | None] = mapped_column(String(64), default=None)
    oidc_verifier: Mapped[str | None] = mapped_column(String(128), default=None)


class Requester(Base):
    __tablename__ = "privacy_center_requesters"

    request_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # The e-mails and an agent's name are sealed at rest (docs/encryption.md); never looked up.
    email: Mapped[str] = mapped_column(SealedText("privacy_center_requesters.email"))
    locale: Mapped[str] = mapped_column(String(8))
    agent_email: Mapped[str | None] = mapped_column(  # set when an agent submitted
        SealedText("privacy_center_requesters.agent_email"), default=None
    )
    agent_name: Mapped[str | None] = mapped_column(SealedText("privacy_center_requesters.agent_name"), default=None)
    agent_document: Mapped[str | None] = mapped_column(String(36), default=None)  # an uploaded file's id
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)  # by the person (agents)
    verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    reminded_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)  # answered, denied or cancelled
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Budget(Base):
    __tablename__ = "verification_budgets"

    subject_ref: Mapped[str] = mapped_column(String(32), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UtcDateTime())
    sent: Mapped[int] = mapped_column(Integer, default=0)
