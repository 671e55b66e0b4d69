"""The privacy team's queue: requests filtered, searched and ordered by due date, and the dashboard's figures.

Beside `service.PrivacyRequests.page` (newest first), the queue pages in due-date order on the keyset
(due_on, id), so a page costs the same at row 10 and at row 1,000,000; the filters add "due within N days"
and a search by request id, by its reference (the id's first 8+ hex digits, a range on the primary key), or
by the subject's keyed hash (an e-mail is never looked up in clear).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select

from dsar.errors import InvalidInput
from dsar.kit.ids import is_uuid
from dsar.requests import repository as repo
from dsar.requests.models import PrivacyRequest
from dsar.requests.service import Page, PrivacyRequests

SORTS = ("due", "received")
OPEN_STATUS = "open"  # the cases still to answer: received or in progress
ALL_STATUSES = "all"


@dataclass(frozen=True)
class QueueFilter:
    status: str | None = None  # one status, or OPEN_STATUS (received or in progress), or ALL_STATUSES / None
    type: str | None = None
    channel: str | None = None
    jurisdiction: str | None = None
    assignee: str | None = None
    due_within_days: int | None = None  # open requests due on or before today + N
    overdue: bool = False
    email: str | None = None  # matched by its keyed hash
    request_id: str | None = None
    reference: str | None = None  # the first 8+ hex digits of a request id, as told to the person
    sort: str = "due"


@dataclass(frozen=True)
class Dashboard:
    weeks: list[date]  # the Monday of each week, oldest first
    per_week: dict[str, list[int]]  # request type -> received per week
    open: int
    overdue: int
    due_this_week: int
    median_days: dict[str, float | None] = field(default_factory=dict)  # per type, requests answered in the span
    by_status: dict[str, int] = field(default_factory=dict)


class RequestQueue:
    def __init__(self, requests: PrivacyRequests) -> None:
        self.requests = requests

    def _conds(self, tenant: str, f: QueueFilter) -> list[ColumnElement[bool]]:
        today = self.requests.today()
        one_status = None if f.status in (OPEN_STATUS, ALL_STATUSES) else f.status
        base = repo.Filter(
            status=one_status or None,
            type=f.type or None,
            channel=f.channel or None,
            jurisdiction=f.jurisdiction.upper() if f.jurisdiction else None,
            assignee=f.assignee or None,
            overdue_on=today if f.overdue else None,
            subject_ref=self.requests.subject_ref(f.email) if f.email else None,
        )
        conds = repo._where(tenant, base)  # one package: the case's own filter
        r = PrivacyRequest
        if f.status == OPEN_STATUS:
            conds.append(r.status.in_(repo.OPEN))
        if f.due_within_days is not None:
            if not 0 <= f.due_within_days <= 3650:
                raise InvalidInput("due within: a number of days from 0 to 3650")
            conds.extend([r.status.in_(repo.OPEN), r.due_on <= today + timedelta(days=f.due_within_days)])
        if f.reference:
            prefix = reference_prefix(f.reference)
            # A range on the primary key (its index), not LIKE: PostgreSQL uses a text index for LIKE only under
            # the C collation. Every character of an id (hex digits, "-") sorts before "g".
            conds.extend([r.id >= prefix, r.id < prefix + "g"])
        if f.request_id:
            if not is_uuid(f.request_id.strip().lower()):
                raise InvalidInput("a request id looks like 8-4-4-4-12 hexadecimal digits")
            conds.append(r.id == f.request_id.strip().lower())
        return conds

    def page(self, tenant: str, f: QueueFilter, *, first: int = 50, after: str | None = None) -> Page:
        if f.sort not in SORTS:
            raise InvalidInput(f"sort is one of {', '.join(SORTS)}")
        if not 1 <= first <= 500:
            raise InvalidInput("first must be between 1 and 500")
        r = PrivacyRequest
        conds = self._conds(tenant, f)
        if f.sort == "due":
            if after:
                on, rid = _decode(after)
                conds.append(
                    or_(r.due_on > date.fromisoformat(on), and_(r.due_on == date.fromisoformat(on), r.id > rid))
                )
            order: Any = (r.due_on.asc(), r.id.asc())
            if f.email or f.reference:  # a few requests: found by the subject index (or the id's), then sorted; an
                # ORDER BY the due index could serve would lead SQLite to walk that index through every request instead
                order = (func.coalesce(r.due_on, r.due_on).asc(), r.id.asc())
        else:
            if after:
                at, rid = _decode(after)
                moment = datetime.fromisoformat(at)
                conds.append(or_(r.received_at < moment, and_(r.received_at == moment, r.id < rid)))
            order = (r.received_at.desc(), r.id.desc())
        with self.requests.db.session(write=False) as s:
            rows = s.scalars(select(r).where(*conds).order_by(*order).limit(first + 1)).all()
            tasks = repo.task_ids_of(s, [x.id for x in rows[:first]])
        items = [self.requests._view(x, tasks[x.id]) for x in rows[:first]]
        more = len(rows) > first
        cursor = None
        if more:
            last = rows[first - 1]
            cursor = _encode(last.due_on.isoformat() if f.sort == "due" else last.received_at.isoformat(), last.id)
        return Page(items, cursor, more)

    def export(self, tenant: str, f: QueueFilter) -> Iterator[dict[str, Any]]:
        """Every request the filter matches, in the queue's order, as the rows of a CSV export."""
        after: str | None = None
        while True:
            page = self.page(tenant, f, first=500, after=after)
            for v in page.items:
                yield {
                    "request_id": v.id,
                    "type": v.type,
                    "channel": v.channel,
                    "jurisdiction": v.jurisdiction or "",
                    "status": v.status,
                    "subject": v.subject,
                    "received_at": v.received_at.isoformat(),
                    "due_on": v.due_on.isoformat(),
                    "days_left": v.days_left,
                    "overdue": "yes" if v.overdue else "no",
                    "assignee": v.assignee or "",
                    "decision": v.decision or "",
                    "decision_basis": v.decision_basis or "",
                    "responded_at": v.responded_at.isoformat() if v.responded_at else "",
                }
            if not page.has_next_page:
                return
            after = page.end_cursor

    def dashboard(self, tenant: str, weeks: int = 12) -> Dashboard:
        """Requests received per week and type, the median days to answer, and what is overdue or due soon."""
        today = self.requests.today()
        monday = today - timedelta(days=today.weekday())
        starts = [monday - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]
        r = PrivacyRequest
        per_week: dict[str, list[int]] = {}
        with self.requests.db.session(write=False) as s:
            rows = s.execute(
                select(r.type, r.received_on, func.count())
                .where(r.tenant == tenant, r.received_on >= starts[0])
                .group_by(r.type, r.received_on)
            ).all()
            for rtype, on, n in rows:
                index = (on - starts[0]).days // 7
                if 0 <= index < weeks:
                    per_week.setdefault(rtype, [0] * weeks)[index] += n
            by_status = {
                st: int(n)
                for st, n in s.execute(select(r.status, func.count()).where(r.tenant == tenant).group_by(r.status))
            }
            open_q = [r.tenant == tenant, r.status.in_(repo.OPEN)]
            overdue = int(s.scalar(select(func.count()).select_from(r).where(*open_q, r.due_on < today)) or 0)
            sunday = monday + timedelta(days=6)
            due_week = int(
                s.scalar(select(func.count()).select_from(r).where(*open_q, r.due_on >= today, r.due_on <= sunday)) or 0
            )
        metrics = self.requests.metrics(tenant, starts[0], today + timedelta(days=1))
        medians = {t: m.median_days for t, m in metrics.by_type.items()}
        return Dashboard(
            weeks=starts,
            per_week=dict(sorted(per_week.items())),
            open=sum(by_status.get(st, 0) for st in repo.OPEN),
            overdue=overdue,
            due_this_week=due_week,
            median_days=medians,
            by_status=by_status,
        )


_HEX = frozenset("0123456789abcdef")


def is_reference(text: str) -> bool:
    """A request's reference: 8 to 32 of its first hex digits (hyphens optional), in either case."""
    digits = text.strip().lower().replace("-", "")
    return 8 <= len(digits) <= 32 and set(digits) <= _HEX


def reference_prefix(text: str) -> str:
    """The reference as the start of an id (hyphens where an id has them): `2098C453AB` -> `2098c453-ab`."""
    if not is_reference(text):
        raise InvalidInput("a reference is 8 or more of the first hexadecimal digits of a request id")
    digits = text.strip().lower().replace("-", "")
    parts, at = [], 0
    for size in (8, 4, 4, 4, 12):
        if at < len(digits):
            parts.append(digits[at : at + size])
        at += size
    return "-".join(parts)


def _encode(key: str, rid: str) -> str:
    return base64.urlsafe_b64encode(f"{key}|{rid}".encode()).decode("ascii").rstrip("=")


def _decode(cursor: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8")
        key, rid = raw.split("|", 1)
        (date.fromisoformat if len(key) == 10 else datetime.fromisoformat)(key)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput("that page link is not one this console made") from None
    if not is_uuid(rid):
        raise InvalidInput("that page link is not one this console made")
    return key, rid


__all__ = ["SORTS", "Dashboard", "QueueFilter", "RequestQueue", "is_reference", "reference_prefix"]
