"""All SQL on privacy tasks: creation with idempotency keys, lookups scoped to a tenant, leases."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Table, bindparam, case, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dsar.db.lease import NOW, Lease
from dsar.tasks.models import FAILED, FINAL, IN_PROGRESS, ON_HOLD, IdempotencyKey, PrivacyTask

IDEMPOTENCY_WINDOW = timedelta(hours=8)


class IdempotencyMismatch(Exception):
    """The client token was used for different input within its window."""


def find_by_token(s: Session, tenant: str, operation: str, token: str, now: datetime) -> IdempotencyKey | None:
    key = s.get(IdempotencyKey, (tenant, operation, token))
    return key if key is not None and key.expires_at > now else None


def remember_token(
    s: Session, tenant: str, operation: str, token: str, task_id: str, fingerprint: str, now: datetime
) -> bool:
    """Record the token for this task; False if another request took it first (a race)."""
    existing = s.get(IdempotencyKey, (tenant, operation, token))
    if existing is not None:
        if existing.expires_at > now:
            return False
        existing.task_id, existing.fingerprint = task_id, fingerprint
        existing.expires_at = now + IDEMPOTENCY_WINDOW
        return True
    try:
        with s.begin_nested():
            s.add(
                IdempotencyKey(
                    tenant=tenant,
                    operation=operation,
                    token=token,
                    task_id=task_id,
                    fingerprint=fingerprint,
                    expires_at=now + IDEMPOTENCY_WINDOW,
                )
            )
    except IntegrityError:
        return False
    return True


def get_task(s: Session, tenant: str, task_id: str, kind: str) -> PrivacyTask | None:
    return s.scalar(
        select(PrivacyTask).where(PrivacyTask.id == task_id, PrivacyTask.tenant == tenant, PrivacyTask.kind == kind)
    )


# The API's most frequent read, built once: a Core statement of the columns a task query answers with.
_VIEW = select(
    PrivacyTask.id,
    PrivacyTask.kind,
    PrivacyTask.status,
    PrivacyTask.subject_type,
    PrivacyTask.subject_email,
    PrivacyTask.submitted_at,
    PrivacyTask.updated_at,
    PrivacyTask.errors,
    PrivacyTask.result_key,
    PrivacyTask.holding_period_days,
).where(
    PrivacyTask.id == bindparam("task_id"),
    PrivacyTask.tenant == bindparam("tenant"),
    PrivacyTask.kind == bindparam("kind"),
)


def view_row(conn: Connection, tenant: str, task_id: str, kind: str) -> Any:
    """The row (or None) of the columns a task query answers with (no ORM session or object)."""
    return conn.execute(_VIEW, {"task_id": task_id, "tenant": tenant, "kind": kind}).one_or_none()


def cancel_on_hold(s: Session, task_id: str, now: datetime, errors: list[dict[str, str]]) -> bool:
    """ON_HOLD -> FAILED (cancelled), atomically against a worker claiming the task as its hold ends."""
    res = s.execute(
        update(PrivacyTask)
        .where(PrivacyTask.id == task_id, PrivacyTask.status == ON_HOLD, PrivacyTask.lease_owner.is_(None))
        .values(status=FAILED, errors=errors, updated_at=now, finished_at=now)
    )
    return bool(res.rowcount == 1)  # type: ignore[attr-defined]


_TASKS: Table = PrivacyTask.__table__  # type: ignore[assignment]

# The queue's hot path: Core statements built once (no ORM bookkeeping, no statement construction or cache-key
# computation per call), parameters bound at execution. The lease helper builds the claim, renew, release and
# finish UPDATEs once; the candidate queries (fairness order, SKIP LOCKED) are built here, once.
_LEASE = Lease(
    _TASKS,
    attempts="attempts",
    due="due_at",
    claimable=PrivacyTask.status.in_((IN_PROGRESS, ON_HOLD)),
    held=PrivacyTask.status == IN_PROGRESS,
    on_claim={
        "status": IN_PROGRESS,  # a deletion whose holding period ended starts now
        "updated_at": case((PrivacyTask.status == ON_HOLD, NOW), else_=PrivacyTask.updated_at),
    },
)
_CANDIDATE = _LEASE.candidates(skip_locked=True)
_CANDIDATE_BY_ID = (_CANDIDATE.where(PrivacyTask.id == bindparam("task_id")),)
_CANDIDATES = (  # fairness: single requests first (partial index), then batch rows, each oldest first
    _CANDIDATE.where(PrivacyTask.batch_id.is_(None)).order_by(PrivacyTask.due_at).limit(1),
    _CANDIDATE.order_by(PrivacyTask.due_at).limit(1),
)


def claim_next(s: Session, owner: str, now: datetime, lease: timedelta, task_id: str | None = None) -> str | None:
    """Take the lease of one due task whose lease is free or expired; its id, or None.

    Without `task_id`, tasks that no batch started go first: a request of the back office or of a user is
    not queued behind the ten thousand rows of an uploaded CSV (batch rows then run oldest first).
    On PostgreSQL the candidate is locked with SKIP LOCKED, so concurrent workers take different tasks; a
    candidate lost to another worker anyway (SQLite serializes writers, so only on other databases) makes
    it try the next one rather than give up while tasks are due."""
    conn = s.connection()
    if task_id is not None:
        chosen = _LEASE.claim_first(conn, _CANDIDATE_BY_ID, owner, now, lease, {"task_id": task_id}, tries=1)
    else:
        chosen = _LEASE.claim_first(conn, _CANDIDATES, owner, now, lease)
    return None if chosen is None else str(chosen)


def renew_leases(s: Session, owner: str | list[str], until: datetime) -> int:
    """Extend the leases of `owner` and of its threads (`owner/...`), or exactly of the owners listed."""
    if isinstance(owner, list):
        return _LEASE.renew(s.connection(), owner, until)
    return _LEASE.renew_prefix(s.connection(), owner, until)


def set_summary(s: Session, task_id: str, owner: str, summary: dict[str, Any]) -> None:
    _LEASE.finish(s.connection(), task_id, owner, {"summary": summary}, release=False)


def release(s: Session, task_id: str, owner: str, retry_at: datetime, refund: bool = False) -> None:
    """Give the lease back, to run again at `retry_at`; `refund` does not count this attempt."""
    _LEASE.release(s.connection(), task_id, owner, retry_at, refund=refund)


def finish(s: Session, task_id: str, owner: str, now: datetime, status: str, **values: Any) -> bool:
    """Move a task we hold the lease of to a final state, once; False if we lost the lease."""
    assert status in FINAL
    final = {"status": status, "updated_at": now, "finished_at": now, **values}
    return _LEASE.finish(s.connection(), task_id, owner, final)


def overdue_ids(s: Session, now: datetime, grace: timedelta, limit: int) -> list[str]:
    free = or_(PrivacyTask.lease_expires.is_(None), PrivacyTask.lease_expires < now)
    q = (
        select(PrivacyTask.id)
        .where(PrivacyTask.status.in_((IN_PROGRESS, ON_HOLD)), PrivacyTask.due_at <= now - grace, free)
        .order_by(PrivacyTask.due_at)
        .limit(limit)
    )
    return list(s.scalars(q))


def archives_of(s: Session, subject_ref: str) -> list[tuple[str, str]]:
    """(task id, storage key) of every stored result of this subject (any tenant, any API face)."""
    rows = s.execute(
        select(PrivacyTask.id, PrivacyTask.result_key).where(
            PrivacyTask.subject_ref == subject_ref, PrivacyTask.result_key.is_not(None)
        )
    ).all()
    return [(str(r[0]), str(r[1])) for r in rows]


def forget_archive(s: Session, task_id: str) -> None:
    s.execute(
        update(PrivacyTask)
        .where(PrivacyTask.id == task_id)
        .values(result_key=None, result_size=None, result_sha256=None)
    )
