"""The steps of manual sources: one per (task, source), answered by a person through a signed link or the CLI."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from dsar.db.base import Base, UtcDateTime
from dsar.db.sealed import SealedText

PENDING = "pending"
ANSWERED = "answered"  # files uploaded
NO_DATA = "no_data"  # attested: the system holds nothing about the subject
ERASED = "erased"  # attested (deletions): the subject's data was erased
COMPLETED_WITHOUT = "completed_without"  # no answer by the deadline; the policy completed the task without it
OVERDUE = "overdue"  # no answer by the deadline; the policy blocked the task
CLOSED = frozenset({ANSWERED, NO_DATA, ERASED, COMPLETED_WITHOUT, OVERDUE})


class ManualStep(Base):
    __tablename__ = "manual_steps"
    __table_args__ = (
        Index("ux_manual_steps_task_source", "task_id", "source", unique=True),
        Index("ix_manual_steps_pending", "status", "remind_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # random; named in the signed link
    task_id: Mapped[str] = mapped_column(String(36))
    source: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))  # retrieval | deletion
    # The identities the respondent searches by (JSON object), sealed at rest (docs/encryption.md).
    subject: Mapped[str] = mapped_column(SealedText("manual_steps.subject"))
    status: Mapped[str] = mapped_column(String(20), default=PENDING)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    deadline_at: Mapped[datetime] = mapped_column(UtcDateTime())
    remind_at: Mapped[datetime] = mapped_column(UtcDateTime())  # the next reminder
    reminders: Mapped[int] = mapped_column(Integer, default=0)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    answered_by: Mapped[str | None] = mapped_column(String(16), default=None)  # link | cli | policy
    # When the uploads and the subject were deleted (DSAR_MANUAL__RETENTION_DAYS after the step closed).
    purged_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    # The uploaded files: [{"name", "size", "sha256", "key", "rows"}], the bytes in the object store.
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
