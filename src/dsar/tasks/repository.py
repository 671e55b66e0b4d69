"""All SQL on privacy tasks: creation with idempotency keys, lookups scoped to a tenant, leases."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, Update, and_, bindparam, case, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dsar.db.base import UtcDateTime
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
# computation per call), parameters bound at execution.
_NOW = bindparam("now", type_=UtcDateTime())
_DUE = and_(
    PrivacyTask.status.in_((IN_PROGRESS, ON_HOLD)),
    PrivacyTask.due_at <= _NOW,
    or_(PrivacyTask.lease_expires.is_(None), PrivacyTask.lease_expires < _NOW),
)
_CANDIDATE = select(PrivacyTask.id).where(_DUE).with_for_update(skip_locked=True)
_CANDIDATE_BY_ID = _CANDIDATE.where(PrivacyTask.id == bindparam("task_id"))
_CANDIDATE_SINGLE = _CANDIDATE.where(PrivacyTask.batch_id.is_(None)).order_by(PrivacyTask.due_at).limit(1)
_CANDIDATE_ANY = _CANDIDATE.order_by(PrivacyTask.due_at).limit(1)
_CLAIM = (
    update(_TASKS)
    .where(PrivacyTask.id == bindparam("chosen"), _DUE)
    .values(
        lease_owner=bindparam("owner"),
        lease_expires=bindparam("until", type_=UtcDateTime()),
        attempts=PrivacyTask.attempts + 1,
        status=IN_PROGRESS,  # a deletion whose holding period ended starts now
        updated_at=case((PrivacyTask.status == ON_HOLD, _NOW), else_=PrivacyTask.updated_at),
    )
)
_CLAIM_TRIES = 5


def claim_next(s: Session, owner: str, now: datetime, lease: timedelta, task_id: str | None = None) -> str | None:
    """Take the lease of one due task whose lease is free or expired; its id, or None.

    Without `task_id`, tasks that no batch started go first: a request of the back office or of a user is
    not queued behind the ten thousand rows of an uploaded CSV (batch rows then run oldest first).
    On PostgreSQL the candidate is locked with SKIP LOCKED, so concurrent workers take different tasks; a
    candidate lost to another worker anyway (SQLite serializes writers, so only on other databases) makes
    it try the next one rather than give up while tasks are due."""
    conn = s.connection()
    at = {"now": now}
    for _ in range(_CLAIM_TRIES):
        if task_id is not None:
            chosen = conn.scalar(_CANDIDATE_BY_ID, {**at, "task_id": task_id})
        else:  # fairness: single requests first (partial index), then batch rows, each oldest first
            chosen = conn.scalar(_CANDIDATE_SINGLE, at) or conn.scalar(_CANDIDATE_ANY, at)
        if chosen is None:
            return None
        claimed = conn.execute(_CLAIM, {**at, "chosen": chosen, "owner": owner, "until": now + lease})
        if claimed.rowcount == 1:
            return str(chosen)
        if task_id is not None:
            return None
    return None


def renew_leases(s: Session, owner: str | list[str], until: datetime) -> int:
    """Extend the leases of `owner` and of its threads (`owner/...`), or exactly of the owners listed."""
    mine: ColumnElement[bool]
    if isinstance(owner, list):
        mine = PrivacyTask.lease_owner.in_(owner)
    else:
        mine = or_(PrivacyTask.lease_owner == owner, PrivacyTask.lease_owner.startswith(owner + "/", autoescape=True))
    res = s.execute(update(PrivacyTask).where(mine, PrivacyTask.status == IN_PROGRESS).values(lease_expires=until))
    return int(res.rowcount)  # type: ignore[attr-defined]


def set_summary(s: Session, task_id: str, owner: str, summary: dict[str, Any]) -> None:
    s.execute(
        update(PrivacyTask).where(PrivacyTask.id == task_id, PrivacyTask.lease_owner == owner).values(summary=summary)
    )


def release(s: Session, task_id: str, owner: str, retry_at: datetime, refund: bool = False) -> None:
    """Give the lease back, to run again at `retry_at`; `refund` does not count this attempt."""
    attempts = PrivacyTask.attempts - 1 if refund else PrivacyTask.attempts
    s.execute(
        update(PrivacyTask)
        .where(PrivacyTask.id == task_id, PrivacyTask.lease_owner == owner)
        .values(lease_owner=None, lease_expires=None, due_at=retry_at, attempts=attempts)
    )


def finish(s: Session, task_id: str, owner: str, now: datetime, status: str, **values: Any) -> bool:
    """Move a task we hold the lease of to a final state, once; False if we lost the lease."""
    assert status in FINAL
    params = {"task_id": task_id, "owner": owner, "now": now, "status": status, **values}
    res = s.connection().execute(_finish_statement(tuple(sorted(values))), params)
    return bool(res.rowcount == 1)


@functools.cache
def _finish_statement(names: tuple[str, ...]) -> Update:
    """The final UPDATE setting these columns too (a few sets of names exist: one statement each, built once)."""
    extra = {n: bindparam(n, type_=_TASKS.c[n].type) for n in names}
    return (
        update(_TASKS)
        .where(
            PrivacyTask.id == bindparam("task_id"),
            PrivacyTask.lease_owner == bindparam("owner"),
            PrivacyTask.status == IN_PROGRESS,
        )
        .values(
            status=bindparam("status"),
            updated_at=_NOW,
            finished_at=_NOW,
            lease_owner=None,
            lease_expires=None,
            **extra,
        )
    )


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
