"""Privacy tasks as plain values: what the task repository hands to other packages (never an ORM object)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from dsar.kit.clock import iso_z


@dataclass(frozen=True)
class TaskView:
    """A task as the API faces show it (detached from the session)."""

    id: str
    kind: str
    status: str
    subject_type: str
    subject_email: str
    submitted_at: str
    updated_at: str
    errors: list[dict[str, str]]
    result_key: str | None
    holding_period_days: int | None

    @classmethod
    def of(cls, t: Any) -> TaskView:
        """From a task, or from a row of the same columns (`repository.view_row`)."""
        return cls(
            id=t.id,
            kind=t.kind,
            status=t.status,
            subject_type=t.subject_type,
            subject_email=t.subject_email,
            submitted_at=iso_z(t.submitted_at),
            updated_at=iso_z(t.updated_at),
            errors=list(t.errors or []),
            result_key=t.result_key,
            holding_period_days=t.holding_period_days,
        )


@dataclass(frozen=True)
class TaskRecord:
    """Every column of a task but its lease: the operator's and auditor's view (`dsar tasks show`)."""

    id: str
    tenant: str
    kind: str
    channel: str
    subject_email: str
    status: str
    errors: list[dict[str, str]]
    submitted_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    attempts: int
    batch_id: str | None
    holding_period_days: int | None
    result_key: str | None
    result_size: int | None
    result_sha256: str | None
    summary: dict[str, Any] | None

    @classmethod
    def of(cls, t: Any) -> TaskRecord:
        return cls(
            id=t.id,
            tenant=t.tenant,
            kind=t.kind,
            channel=t.channel,
            subject_email=t.subject_email,
            status=t.status,
            errors=list(t.errors or []),
            submitted_at=t.submitted_at,
            updated_at=t.updated_at,
            finished_at=t.finished_at,
            attempts=t.attempts,
            batch_id=t.batch_id,
            holding_period_days=t.holding_period_days,
            result_key=t.result_key,
            result_size=t.result_size,
            result_sha256=t.result_sha256,
            summary=dict(t.summary) if t.summary is not None else None,
        )


__all__ = ["TaskRecord", "TaskView"]


@dataclass(frozen=True, slots=True)
class OpenedTask:
    """A task a face just created, told to the `on_open` hook in the same transaction (privacy requests open a
    case for it). `email` is the subject's, for the case's keyed hash and masked form; it is not stored there."""

    task_id: str
    tenant: str
    kind: str
    channel: str
    email: str
    bulk: bool = False  # a row of an uploaded CSV
    jurisdiction: str | None = None  # where the subject is, when the face was told (e.g. US-CA, FR)


OnOpen = Callable[[Session, Sequence[OpenedTask]], None]
