"""Privacy tasks (retrieval, deletion) and their idempotency keys: the one life every API face shares."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dsar.db.base import Base, UtcDateTime
from dsar.db.sealed import SealedJSON, SealedText
from dsar.tasks.states import COMPLETED, DELETION, FAILED, FINAL, IN_PROGRESS, ON_HOLD, RETRIEVAL


class PrivacyTask(Base):
    __tablename__ = "privacy_tasks"
    __table_args__ = (
        Index("ix_privacy_tasks_due", "status", "due_at"),
        Index("ix_privacy_tasks_lease", "lease_owner"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16), default="bwp")
    subject_type: Mapped[str] = mapped_column(String(16), default="SHOPPER")
    # Sealed at rest (docs/encryption.md); "" when the subject came by another identity.
    subject_email: Mapped[str] = mapped_column(SealedText("privacy_tasks.subject_email"))
    # Identities besides the e-mail (identity name of the data map -> normalised value): phone, customer id.
    # Sealed at rest like the e-mail; never looked up (lookups use `subject_ref`).
    subject_identities: Mapped[dict[str, str] | None] = mapped_column(
        SealedJSON("privacy_tasks.subject_identities"), default=None
    )
    subject_ref: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16))
    errors: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    submitted_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    due_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64), default=None)
    lease_expires: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    result_key: Mapped[str | None] = mapped_column(String(300), default=None)
    result_size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    result_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    holding_period_days: Mapped[int | None] = mapped_column(Integer, default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # The batch (an uploaded CSV) that started the task; indexed with `id` (ix_privacy_tasks_batch, below).
    batch_id: Mapped[str | None] = mapped_column(String(36), default=None)


class IdempotencyKey(Base):
    """A client token seen for an operation of a tenant, and the task it created (valid 8 hours)."""

    __tablename__ = "idempotency_keys"

    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    operation: Mapped[str] = mapped_column(String(64), primary_key=True)
    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(36))
    fingerprint: Mapped[str] = mapped_column(String(64))  # hash of the input, to refuse reuse with other input
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())


# The tasks of a batch, in a stable order for paging and counted by status (dsar.uploads shows them).
Index("ix_privacy_tasks_batch", PrivacyTask.batch_id, PrivacyTask.id)
# Claiming prefers due tasks that no batch started, so that a single request is not queued behind a large
# batch (see repository.claim_next); this partial index finds them without reading the batch's rows.
_SINGLE = PrivacyTask.batch_id.is_(None)
Index(
    "ix_privacy_tasks_due_single",
    PrivacyTask.status,
    PrivacyTask.due_at,
    sqlite_where=_SINGLE,
    postgresql_where=_SINGLE,
)

__all__ = [
    "COMPLETED",
    "DELETION",
    "FAILED",
    "FINAL",
    "IN_PROGRESS",
    "ON_HOLD",
    "RETRIEVAL",
    "IdempotencyKey",
    "PrivacyTask",
]
