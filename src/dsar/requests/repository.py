"""All SQL on privacy requests, their timeline and their tasks. Other packages call `dsar.requests.service`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Table, Update, and_, bindparam, delete, func, or_, select, update
from sqlalchemy import insert as insert_
from sqlalchemy.orm import Session

from dsar.requests.models import PrivacyRequest, PrivacyRequestEvent, PrivacyRequestTask

RECEIVED, IN_PROGRESS, COMPLETED, DENIED, CANCELED = "received", "in_progress", "completed", "denied", "canceled"
OPEN = (RECEIVED, IN_PROGRESS)
# Writes go through the Core tables: no ORM bookkeeping in the transactions that start and end tasks (B1).
_REQUESTS = cast(Table, PrivacyRequest.__table__)
_EVENTS = cast(Table, PrivacyRequestEvent.__table__)
_LINKS = cast(Table, PrivacyRequestTask.__table__)


@dataclass(frozen=True)
class Filter:
    status: str | None = None
    type: str | None = None
    channel: str | None = None
    jurisdiction: str | None = None
    assignee: str | None = None
    overdue_on: date | None = None  # open requests due before this day
    received_from: datetime | None = None
    received_to: datetime | None = None
    subject_ref: str | None = None


def insert_many(
    s: Session, requests: list[dict[str, Any]], events: list[dict[str, Any]], links: list[dict[str, Any]]
) -> None:
    """Cases opened for many tasks at once (an uploaded CSV's chunk): three statements, whatever the count."""
    if requests:
        s.execute(insert_(_REQUESTS), requests)
    if events:
        s.execute(insert_(_EVENTS), events)
    if links:
        s.execute(insert_(_LINKS), links)


def insert(s: Session, values: dict[str, Any]) -> None:
    """Bulk-style inserts: a long transaction (a bulk file) does not pile objects up in the session."""
    s.execute(insert_(_REQUESTS), values)


def get(s: Session, tenant: str, request_id: str, *, lock: bool = False) -> PrivacyRequest | None:
    stmt = select(PrivacyRequest).where(PrivacyRequest.id == request_id, PrivacyRequest.tenant == tenant)
    if lock:
        stmt = stmt.with_for_update()
    return s.scalar(stmt)


def _where(tenant: str | None, f: Filter) -> list[ColumnElement[bool]]:
    r = PrivacyRequest
    conds: list[ColumnElement[bool]] = []
    if tenant is not None:
        conds.append(r.tenant == tenant)
    for column, value in (
        (r.status, f.status),
        (r.type, f.type),
        (r.channel, f.channel),
        (r.jurisdiction, f.jurisdiction),
        (r.assignee, f.assignee),
        (r.subject_ref, f.subject_ref),
    ):
        if value is not None:
            conds.append(column == value)
    if f.overdue_on is not None:
        conds.extend([r.status.in_(OPEN), r.due_on < f.overdue_on])
    if f.received_from is not None:
        conds.append(r.received_at >= f.received_from)
    if f.received_to is not None:
        conds.append(r.received_at < f.received_to)
    return conds


def page(
    s: Session, tenant: str, f: Filter, first: int, after: tuple[datetime, str] | None
) -> Sequence[PrivacyRequest]:
    """Newest first, keyset-paged on (received_at, id): a page costs the same at row 10 and at row 1,000,000."""
    r = PrivacyRequest
    conds = _where(tenant, f)
    if after is not None:
        at, rid = after
        conds.append(or_(r.received_at < at, and_(r.received_at == at, r.id < rid)))
    stmt = select(r).where(*conds).order_by(r.received_at.desc(), r.id.desc()).limit(first)
    return s.scalars(stmt).all()


_ADD_EVENT = insert_(_EVENTS)


def add_event(
    s: Session, request_id: str, at: datetime, actor: str, kind: str, data: dict[str, Any] | None = None
) -> int:
    """Add a line to a request's timeline; its number (increasing per request: the webhook event's `seq`)."""
    res = cast(
        CursorResult[Any],
        s.execute(_ADD_EVENT, {"request_id": request_id, "at": at, "actor": actor, "kind": kind, "data": data}),
    )
    key = res.inserted_primary_key
    assert key is not None
    return int(key[0])


def events_of(s: Session, request_ids: Sequence[str]) -> Sequence[PrivacyRequestEvent]:
    """The timelines of many requests (just opened in bulk), in one query."""
    if not request_ids:
        return []
    stmt = select(PrivacyRequestEvent).where(PrivacyRequestEvent.request_id.in_(request_ids))
    return s.scalars(stmt.order_by(PrivacyRequestEvent.id)).all()


def events(s: Session, request_id: str) -> Sequence[PrivacyRequestEvent]:
    stmt = select(PrivacyRequestEvent).where(PrivacyRequestEvent.request_id == request_id)
    return s.scalars(stmt.order_by(PrivacyRequestEvent.id)).all()


def link_task(s: Session, request_id: str, task_id: str) -> None:
    s.execute(insert_(_LINKS), {"request_id": request_id, "task_id": task_id, "done": False})


# An UPDATE's bound parameters may not be named after its table's columns (SQLAlchemy keeps those for SET).
_TASK_DONE = (
    update(_LINKS)
    .where(_LINKS.c.request_id == bindparam("link_request"), _LINKS.c.task_id == bindparam("link_task"))
    .values(done=True)
)
_ANY_LEFT = select(
    select(_LINKS.c.task_id).where(_LINKS.c.request_id == bindparam("request_id"), _LINKS.c.done.is_(False)).exists()
)


def task_done(s: Session, request_id: str, task_id: str) -> bool:
    """Mark a task of the request done; True when it was the last one not done (statements built once)."""
    s.execute(_TASK_DONE, {"link_request": request_id, "link_task": task_id})
    return not s.scalar(_ANY_LEFT, {"request_id": request_id})


def task_ids(s: Session, request_id: str) -> list[str]:
    stmt = select(PrivacyRequestTask.task_id).where(PrivacyRequestTask.request_id == request_id)
    return list(s.scalars(stmt.order_by(PrivacyRequestTask.task_id)))


def task_ids_of(s: Session, request_ids: Sequence[str]) -> dict[str, list[str]]:
    """The tasks of a page of requests, in one query."""
    out: dict[str, list[str]] = {rid: [] for rid in request_ids}
    if request_ids:
        t = PrivacyRequestTask
        for rid, tid in s.execute(
            select(t.request_id, t.task_id).where(t.request_id.in_(request_ids)).order_by(t.task_id)
        ):
            out[rid].append(tid)
    return out


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    tenant: str
    status: str
    type: str = ""
    received_on: date | None = None
    due_on: date | None = None
    subject_ref: str = ""


_CASE_OF_TASK = (
    select(
        _REQUESTS.c.id,
        _REQUESTS.c.tenant,
        _REQUESTS.c.status,
        _REQUESTS.c.type,
        _REQUESTS.c.received_on,
        _REQUESTS.c.due_on,
        _REQUESTS.c.subject_ref,
    )
    .join(_LINKS, _LINKS.c.request_id == _REQUESTS.c.id)
    .where(_LINKS.c.task_id == bindparam("task_id"))
    .with_for_update(of=_REQUESTS)
)


def case_of_task(s: Session, task_id: str) -> Case | None:
    """The case a task belongs to (one Core statement built once; the row locked on PostgreSQL)."""
    row = s.execute(_CASE_OF_TASK, {"task_id": task_id}).first()
    return (
        None
        if row is None
        else Case(row.id, row.tenant, row.status, row.type, row.received_on, row.due_on, row.subject_ref)
    )


def record(
    s: Session, tenant: str | None, start: datetime, end: datetime, batch: int = 1000
) -> Iterator[PrivacyRequest]:
    """Every request received in [start, end), oldest first, streamed in batches (never the whole year in memory)."""
    r = PrivacyRequest
    after: tuple[datetime, str] | None = None
    while True:
        conds = _where(tenant, Filter(received_from=start, received_to=end))
        if after is not None:
            conds.append(or_(r.received_at > after[0], and_(r.received_at == after[0], r.id > after[1])))
        rows = s.scalars(select(r).where(*conds).order_by(r.received_at, r.id).limit(batch)).all()
        yield from rows
        if len(rows) < batch:
            return
        after = (rows[-1].received_at, rows[-1].id)
        s.expunge_all()


def metric_rows(s: Session, tenant: str | None, start: datetime, end: datetime) -> Sequence[Any]:
    """(type, status, decision, decision_basis, response_days, late, count) over requests received in [start, end):
    one GROUP BY, whose rows are a histogram of days to respond (a few thousand rows for a year of millions)."""
    r = PrivacyRequest
    cols = (r.type, r.status, r.decision, r.decision_basis, r.response_days, r.late)
    stmt = select(*cols, func.count()).where(*_where(tenant, Filter(received_from=start, received_to=end)))
    return s.execute(stmt.group_by(*cols)).all()


def overdue_counts(s: Session, tenant: str | None, start: datetime, end: datetime, today: date) -> dict[str, int]:
    """Open requests past their due date, per type, among those received in [start, end)."""
    r = PrivacyRequest
    stmt = (
        select(r.type, func.count())
        .where(*_where(tenant, Filter(received_from=start, received_to=end, overdue_on=today)))
        .group_by(r.type)
    )
    return {t: int(n) for t, n in s.execute(stmt)}


def to_remind(s: Session, horizon: date, limit: int) -> Sequence[Any]:
    """Open requests due by `horizon` not yet reminded of their current due date (id, tenant, due_on), locked."""
    r = PrivacyRequest
    stmt = (
        select(r.id, r.tenant, r.due_on)
        .where(
            r.status.in_(OPEN),
            r.due_on <= horizon,
            or_(r.reminded_for.is_(None), r.reminded_for != r.due_on),
        )
        .order_by(r.due_on, r.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return s.execute(stmt).all()


_SET_FIELDS: dict[tuple[str, ...], Update] = {}  # one statement per set of column names, built once


def set_fields(s: Session, request_id: str, **values: Any) -> None:
    names = tuple(sorted(values))
    stmt = _SET_FIELDS.get(names)
    if stmt is None:
        c = _REQUESTS.c
        sets = {c[n]: bindparam(f"v_{n}", type_=c[n].type) for n in names}
        stmt = _SET_FIELDS[names] = update(_REQUESTS).where(c.id == bindparam("request_id")).values(sets)
    s.execute(stmt, {"request_id": request_id, **{f"v_{n}": v for n, v in values.items()}})


def forget_rectified_values(s: Session, subject_ref: str) -> int:
    """The subject is erased: the `rectified` lines of their requests (any tenant) keep which fields changed, not
    the values before and after nor the rows' keys. How many lines changed."""
    e, r = PrivacyRequestEvent, PrivacyRequest
    rows = s.execute(
        select(e.id, e.data)
        .join(r, r.id == e.request_id)
        .where(r.subject_ref == subject_ref, r.type == "rectification", e.kind == "rectified")
    ).all()
    for event_id, data in rows:
        changes = [
            {"collection": c.get("collection"), "field": c.get("field"), "erased": True}
            for c in (data or {}).get("changes") or []
        ]
        s.execute(update(_EVENTS).where(_EVENTS.c.id == event_id).values(data={**(data or {}), "changes": changes}))
    return len(rows)


def purge(s: Session, today: date, limit: int = 1000) -> int:
    """Delete records whose retention ended (their events and task links go with them)."""
    ids = list(s.scalars(select(PrivacyRequest.id).where(PrivacyRequest.purge_after < today).limit(limit)))
    if not ids:
        return 0
    s.execute(delete(PrivacyRequestEvent).where(PrivacyRequestEvent.request_id.in_(ids)))
    s.execute(delete(PrivacyRequestTask).where(PrivacyRequestTask.request_id.in_(ids)))
    s.execute(delete(PrivacyRequest).where(PrivacyRequest.id.in_(ids)))
    return len(ids)
