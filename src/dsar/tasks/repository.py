"""All SQL on privacy tasks and idempotency keys: creation, lookups scoped to a tenant, leases, and the reads and
writes of the other packages (they call these functions and get plain values; none imports the model)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Table,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dsar.db.lease import NOW, Lease
from dsar.db.sealed import seal_clear
from dsar.kit.ids import new_id
from dsar.tasks.models import IdempotencyKey, PrivacyTask
from dsar.tasks.records import TaskRecord, TaskView
from dsar.tasks.states import COMPLETED, DELETION, FAILED, FINAL, IN_PROGRESS, ON_HOLD, RECTIFICATION, RETRIEVAL

IDEMPOTENCY_WINDOW = timedelta(hours=8)


class IdempotencyMismatch(Exception):
    """The client token was used for different input within its window."""


@dataclass(frozen=True)
class TokenUse:
    """What a client token started within its window, and the hash of the input it came with."""

    task_id: str
    fingerprint: str


def find_by_token(s: Session, tenant: str, operation: str, token: str, now: datetime) -> TokenUse | None:
    key = s.get(IdempotencyKey, (tenant, operation, token))
    return TokenUse(key.task_id, key.fingerprint) if key is not None and key.expires_at > now else None


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


def wake(s: Session, task_id: str, now: datetime) -> bool:
    """Make a task that waits for a later due time due now (a manual step was answered); False when it is not
    waiting (ended, on hold, or held by a running worker, which looks again itself)."""
    free = or_(PrivacyTask.lease_expires.is_(None), PrivacyTask.lease_expires < now)
    q = (
        update(PrivacyTask)
        .where(PrivacyTask.id == task_id, PrivacyTask.status == IN_PROGRESS, PrivacyTask.due_at > now, free)
        .values(due_at=now)
    )
    return bool(s.execute(q).rowcount)  # type: ignore[attr-defined]


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


def forget_rectified_values(s: Session, subject_ref: str) -> int:
    """The subject is erased: the values before and after that their rectification tasks kept go too (which
    fields of which collections changed stays). How many tasks were touched."""
    rows = s.execute(
        select(PrivacyTask.id, PrivacyTask.summary).where(
            PrivacyTask.subject_ref == subject_ref, PrivacyTask.kind == RECTIFICATION
        )
    ).all()
    n = 0
    for task_id, summary in rows:
        if not summary:
            continue
        kept = {
            "rectified": [
                {"collection": c.get("collection"), "field": c.get("field"), "erased": True}
                for c in summary.get("rectified") or []
            ]
        }
        s.execute(update(PrivacyTask).where(PrivacyTask.id == task_id).values(summary=kept))
        n += 1
    return n


# -- what other packages read and write through (they never import the model) -------------------------------

# `privacy_tasks` for another table's owner to join in one of its own read queries, so that the query stays one
# statement (an ODR request and its task; a finished task and its tenant's webhook subscriptions). Selected,
# filtered and joined on only: every write goes through a function of this module (tests/unit/test_table_owners.py
# refuses an INSERT, UPDATE or DELETE on it elsewhere).
TASKS_FOR_JOINS: Table = PrivacyTask.__table__  # type: ignore[assignment]


def add_task(
    s: Session,
    *,
    task_id: str,
    tenant: str,
    kind: str,
    channel: str,
    subject_type: str,
    subject_email: str,
    subject_ref: str,
    status: str,
    now: datetime,
    due_at: datetime,
    holding_period_days: int | None = None,
    reason: str | None = None,
    subject_identities: Mapping[str, str] | None = None,
    summary: dict[str, Any] | None = None,
) -> None:
    """Add one new task to the session; the caller flushes or commits it with the rest of its transaction."""
    s.add(
        PrivacyTask(
            id=task_id,
            tenant=tenant,
            kind=kind,
            channel=channel,
            subject_type=subject_type,
            subject_email=subject_email,
            subject_ref=subject_ref,
            status=status,
            errors=[],
            submitted_at=now,
            updated_at=now,
            due_at=due_at,
            attempts=0,
            holding_period_days=holding_period_days,
            reason=reason,
            subject_identities=dict(subject_identities) if subject_identities else None,
            summary=summary,
        )
    )


def insert_retrieval_tasks(
    s: Session, tenant: str, batch_id: str, subjects: Sequence[tuple[str, str]], now: datetime, channel: str = "bwp"
) -> list[str]:
    """One IN_PROGRESS retrieval task of a batch, due now, per (trimmed e-mail, subject ref), many per statement;
    their ids, in order. The caller commits, then wakes the runner."""
    if not subjects:
        return []
    ids = [new_id() for _ in subjects]
    s.execute(
        insert(PrivacyTask),
        [
            {
                "id": task_id,
                "tenant": tenant,
                "kind": RETRIEVAL,
                "channel": channel,
                "subject_type": "SHOPPER",
                "subject_email": email,
                "subject_ref": ref,
                "status": IN_PROGRESS,
                "errors": [],
                "submitted_at": now,
                "updated_at": now,
                "due_at": now,
                "attempts": 0,
                "holding_period_days": None,
                "reason": None,
                "batch_id": batch_id,
            }
            for task_id, (email, ref) in zip(ids, subjects, strict=True)
        ],
    )
    return ids


def record(s: Session, task_id: str) -> TaskRecord | None:
    """Any task by id (any tenant, any face): for operators and for the job that ran it."""
    t = s.get(PrivacyTask, task_id)
    return None if t is None else TaskRecord.of(t)


def latest_records(
    s: Session, limit: int, *, status: str | None = None, kind: str | None = None, tenant: str | None = None
) -> list[TaskRecord]:
    """The latest tasks, newest first, of a status, kind and tenant when given."""
    q = select(PrivacyTask).order_by(PrivacyTask.submitted_at.desc()).limit(limit)
    if status:
        q = q.where(PrivacyTask.status == status)
    if kind:
        q = q.where(PrivacyTask.kind == kind)
    if tenant:
        q = q.where(PrivacyTask.tenant == tenant)
    return [TaskRecord.of(t) for t in s.scalars(q)]


def count_by_kind_and_status(s: Session) -> list[tuple[str, str, int]]:
    """(kind, status, number of tasks) of every pair that has tasks."""
    rows = s.execute(
        select(PrivacyTask.kind, PrivacyTask.status, func.count()).group_by(PrivacyTask.kind, PrivacyTask.status)
    ).all()
    return [(str(kind), str(status), int(n)) for kind, status, n in rows]


def refs_in_batch(s: Session, batch_id: str, refs: Iterable[str]) -> set[str]:
    """Which of these subject refs already have a task in the batch.

    Filtered on `subject_ref` only (its index) and then on the batch in Python, so every database picks the
    selective index whatever its statistics say.
    """
    refs = list(refs)
    if not refs:
        return set()
    rows = s.execute(select(PrivacyTask.subject_ref, PrivacyTask.batch_id).where(PrivacyTask.subject_ref.in_(refs)))
    return {ref for ref, batch in rows if batch == batch_id}


def count_by_status_of_batch(s: Session, batch_id: str) -> dict[str, int]:
    rows = s.execute(
        select(PrivacyTask.status, func.count()).where(PrivacyTask.batch_id == batch_id).group_by(PrivacyTask.status)
    )
    return {status: int(n) for status, n in rows}


def tasks_of_batch(s: Session, batch_id: str, after_id: str, limit: int) -> list[TaskView]:
    """A page of the batch's tasks, by id."""
    rows = s.execute(
        select(*_VIEW.selected_columns)
        .where(PrivacyTask.batch_id == batch_id, PrivacyTask.id > after_id)
        .order_by(PrivacyTask.id)
        .limit(limit)
    )
    return [TaskView.of(r) for r in rows]


def deletion_completed_since(s: Session, subject_ref: str, since: datetime) -> bool:
    """Did a deletion of the subject complete after `since` (any tenant, any face)?"""
    return (
        s.scalar(
            select(PrivacyTask.id)
            .where(
                PrivacyTask.subject_ref == subject_ref,
                PrivacyTask.kind == DELETION,
                PrivacyTask.status == COMPLETED,
                PrivacyTask.finished_at >= since,
            )
            .limit(1)
        )
        is not None
    )


def result_keys(s: Session, ids: Sequence[str]) -> list[str]:
    """The storage keys of the stored results of these tasks."""
    return [k for k in s.scalars(select(PrivacyTask.result_key).where(PrivacyTask.id.in_(ids))) if k]


def delete_tasks(s: Session, ids: Sequence[str], channel: str) -> None:
    """Delete these tasks of a channel (a face that forgets its requests, with their tasks)."""
    s.execute(delete(PrivacyTask).where(PrivacyTask.id.in_(ids), PrivacyTask.channel == channel))


def seal_clear_emails(s: Session, limit: int = 1000) -> int:
    """Seal up to `limit` subject e-mails and identities written in clear before encryption at rest was on."""
    done = 0
    for column in (PrivacyTask.subject_email, PrivacyTask.subject_identities):
        if done < limit:
            done += seal_clear(s, column, PrivacyTask.id, limit - done)
    return done
