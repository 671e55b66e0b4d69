"""Privacy requests as cases: opened with their legal deadline, decided, extended, assigned, answered, recorded.

Every face that accepts a request (back-office GraphQL, bulk CSV, portability apps, ODR, the CLI, and the
console and privacy center to come) opens one case here, in the same transaction that creates its engine
task (`open_in`), so no task exists without its case. A task's end moves its case on (`task_ended`). Every
change is a line of the case's timeline, with who and when; the subject appears only as a keyed hash and a
masked e-mail. The composition root passes `on_events`, which turns each change into a webhook event
(`dsar.requests.events`) in the transaction that made it.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from dsar.db.engine import Database
from dsar.engine.archive import mask_email
from dsar.errors import Conflict, InvalidInput, NotFound
from dsar.kit.clock import Clock
from dsar.kit.ids import is_uuid, new_id
from dsar.kit.signing import keyed_hash
from dsar.requests import report
from dsar.requests import repository as repo
from dsar.requests.events import CaseEvent, EventSink
from dsar.requests.models import PrivacyRequest
from dsar.requests.report import Metrics, TypeMetrics
from dsar.requests.repository import CANCELED, COMPLETED, DENIED, IN_PROGRESS, RECEIVED
from dsar.requests.rules import REQUEST_TYPES, Deadline, Period, RuleBook
from dsar.tasks import repository as tasks_repo
from dsar.tasks.records import OpenedTask
from dsar.tasks.states import DELETION, FINAL, RECTIFICATION

Filter = repo.Filter

__all__ = [
    "CHANNELS",
    "DENIAL_BASES",
    "WITHHOLDING_BASES",
    "Filter",
    "Metrics",
    "Page",
    "PrivacyRequests",
    "RequestView",
    "TimelineEntry",
    "TypeMetrics",
]

CHANNELS = frozenset({"bwp", "bulk", "adp", "odr", "cli", "console", "privacy_center", "api"})

# Why a request may be refused (CCPA regs §7102(a)(2), GDPR Art. 12(5) and 12(2)); `legal_exemption` names the law.
DENIAL_BASES = {
    "identity_not_verified": "the requester's identity could not be verified",
    "not_made_by_subject": "the request was not made by the data subject or an authorized agent",
    "manifestly_unfounded": "manifestly unfounded (GDPR Art. 12(5))",
    "excessive": "excessive, in particular because of its repetitive character (GDPR Art. 12(5))",
    "legal_exemption": "an exemption in law",
    "no_data_held": "no personal data about the subject is held",
}
# Why a part of an answer may be withheld.
WITHHOLDING_BASES = {
    "others_rights": "it would adversely affect the rights and freedoms of others (GDPR Art. 15(4))",
    "legal_exemption": "an exemption in law",
}

_PENDING = "dsar.requests.pending_events"  # Session.info key of the events `_batched` holds back
_PLACE = re.compile(r"^[A-Z]{2,3}(-[A-Z0-9]{1,3})?$")  # ISO 3166-1 alpha-2, -2 subdivisions, or EU / EEA


ENDED = frozenset({COMPLETED, DENIED, CANCELED})


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    actor: str
    kind: str
    data: dict[str, Any] | None


@dataclass(frozen=True)
class RequestView:
    id: str
    type: str
    channel: str
    jurisdiction: str | None
    rule: str
    subject: str  # masked
    status: str
    received_at: datetime
    due_on: date
    days_left: int
    overdue: bool
    extendable_until: date | None
    extended_on: date | None
    extension_reason: str | None
    confirm_by: date | None
    assignee: str | None
    decision: str | None
    decision_basis: str | None
    decision_law: str | None
    decided_by: str | None
    decided_at: datetime | None
    withheld: list[dict[str, str]]
    responded_at: datetime | None
    task_ids: list[str] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)


@dataclass(frozen=True)
class Page:
    items: list[RequestView]
    end_cursor: str | None
    has_next_page: bool


class PrivacyRequests:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        rules: RuleBook,
        subject_key: bytes,
        timezone: str = "UTC",
        retention_months: int = 24,
        remind_days_before: int = 0,
        default_jurisdiction: str | None = None,
        company_tenant: str = "default",
        on_events: EventSink | None = None,
        on_change: Callable[[Session, str, str, str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.default_jurisdiction = default_jurisdiction.strip().upper() if default_jurisdiction else None
        self.company_tenant = company_tenant
        self.db = db
        self.clock = clock
        self.rules = rules
        self.subject_key = subject_key
        self.zone = ZoneInfo(timezone)
        self.retention_months = retention_months
        self.remind_days_before = remind_days_before
        self.on_events = on_events  # webhook events, batched per transaction
        self.on_change = on_change  # in the change's transaction (session, tenant, id, kind, data): e-mails to people

    # -- opening ------------------------------------------------------------------------------------------------

    def subject_ref(self, email: str) -> str:
        return keyed_hash(self.subject_key, email.strip().lower(), 32)

    def today(self) -> date:
        return self.clock.now().astimezone(self.zone).date()

    def open(
        self,
        *,
        tenant: str,
        type: str,
        channel: str,
        email: str,
        actor: str,
        jurisdiction: str | None = None,
        task_ids: Iterable[str] = (),
        approved_by_policy: bool = False,
    ) -> str:
        with self.db.session() as s:
            return self.open_in(
                s,
                tenant=tenant,
                type=type,
                channel=channel,
                email=email,
                actor=actor,
                jurisdiction=jurisdiction,
                task_ids=task_ids,
                approved_by_policy=approved_by_policy,
            )

    def open_in(
        self,
        s: Session,
        *,
        tenant: str,
        type: str,
        channel: str,
        email: str,
        actor: str,
        jurisdiction: str | None = None,
        task_ids: Iterable[str] = (),
        approved_by_policy: bool = False,
    ) -> str:
        """Open a case inside the caller's transaction (the one that creates its tasks)."""
        if type not in REQUEST_TYPES:
            raise InvalidInput(f"unknown request type {type!r}; one of {', '.join(sorted(REQUEST_TYPES))}")
        if channel not in CHANNELS:
            raise InvalidInput(f"unknown channel {channel!r}; one of {', '.join(sorted(CHANNELS))}")
        place = _place(jurisdiction) or self.default_jurisdiction
        now = self.clock.now()
        row, received = self._new(tenant, type, channel, place, email, now, approved_by_policy)
        repo.insert(s, row)
        rid = str(row["id"])
        with self._batched(s):
            self._event(s, tenant, rid, now, actor, "received", received)
            if approved_by_policy:
                self._event(s, tenant, rid, now, "policy", "approved", None)
            for task_id in task_ids:
                repo.link_task(s, rid, task_id)
                self._event(s, tenant, rid, now, actor, "task_started", {"task_id": task_id})
        return rid

    def tasks_opened_in(self, s: Session, opened: Sequence[OpenedTask]) -> None:
        """The `on_open` hook of every face that creates tasks: one case per task, approved by policy (the face
        started the work at once), in the transaction that created the tasks."""
        if not opened:
            return
        now = self.clock.now()
        requests, events, links = [], [], []
        for t in opened:
            rtype, channel = _type_and_channel(t)
            place = _place(t.jurisdiction) or self.default_jurisdiction
            row, data = self._new(self._tenant(t.tenant), rtype, channel, place, t.email, now, True)
            requests.append(row)
            rid = str(row["id"])
            events.append({"request_id": rid, "at": now, "actor": channel, "kind": "received", "data": data})
            events.append(
                {"request_id": rid, "at": now, "actor": "policy", "kind": "approved", "data": {"task_id": t.task_id}}
            )
            links.append({"request_id": rid, "task_id": t.task_id, "done": False})
        repo.insert_many(s, requests, events, links)
        if self.on_events is not None:
            tenants = {str(r["id"]): str(r["tenant"]) for r in requests}
            lines = repo.events_of(s, list(tenants))
            self.on_events(
                s, [CaseEvent(tenants[e.request_id], e.request_id, e.id, e.kind, e.at, e.data or {}) for e in lines]
            )

    def _new(
        self, tenant: str, rtype: str, channel: str, place: str | None, email: str, now: datetime, approved: bool
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A new case's row (with its deadline; approved: by policy, its work started) and its `received` event."""
        received_on = now.astimezone(self.zone).date()
        deadline = self.rules.deadline(place, rtype, received_on)
        row = {
            "id": new_id(),
            "tenant": tenant,
            "type": rtype,
            "channel": channel,
            "jurisdiction": place,
            "rule": deadline.rule,
            "subject_ref": self.subject_ref(email),
            "subject_masked": mask_email(email),
            "status": IN_PROGRESS if approved else RECEIVED,
            "received_at": now,
            "received_on": received_on,
            "due_on": deadline.due,
            "extendable_until": deadline.extendable_until,
            "confirm_by": deadline.confirm_by,
            "decision": "approved" if approved else None,
            "decided_by": "policy" if approved else None,
            "decided_at": now if approved else None,
            "updated_at": now,
        }
        event = {"type": rtype, "channel": channel, "due_on": deadline.due.isoformat(), "rule": deadline.rule}
        return row, event

    def _tenant(self, task_tenant: str) -> str:
        """Portability apps and people (ODR) get tenants of their own; their cases belong to the company's team."""
        return self.company_tenant if task_tenant.startswith(("adp:", "odr:")) else task_tenant

    # -- reading ------------------------------------------------------------------------------------------------

    def get(self, tenant: str, request_id: str) -> RequestView:
        with self.db.session(write=False) as s:
            row = self._row(s, tenant, request_id)
            return self._view(row, repo.task_ids(s, row.id), repo.events(s, row.id))

    def page(self, tenant: str, f: repo.Filter | None = None, *, first: int = 50, after: str | None = None) -> Page:
        if not 1 <= first <= 500:
            raise InvalidInput("first must be between 1 and 500")
        position = _decode_cursor(after) if after else None
        with self.db.session(write=False) as s:
            rows = repo.page(s, tenant, f or repo.Filter(), first + 1, position)
            tasks = repo.task_ids_of(s, [r.id for r in rows[:first]])
        items = [self._view(r, tasks[r.id]) for r in rows[:first]]
        more = len(rows) > first
        last = rows[first - 1] if more else (rows[-1] if rows else None)
        return Page(items, _encode_cursor(last.received_at, last.id) if last else None, more)

    def overdue_filter(self) -> repo.Filter:
        return repo.Filter(overdue_on=self.today())

    # -- decisions ----------------------------------------------------------------------------------------------

    def approve(self, tenant: str, request_id: str, *, actor: str) -> RequestView:
        def change(s: Session, row: PrivacyRequest, now: datetime) -> None:
            self._must_be(row, {RECEIVED}, "approved")
            values = {"status": IN_PROGRESS, "decision": "approved", "decided_by": actor, "decided_at": now}
            repo.set_fields(s, row.id, updated_at=now, **values)
            self._event(s, tenant, row.id, now, actor, "approved", None)

        return self._change(tenant, request_id, change)

    def deny(
        self, tenant: str, request_id: str, *, actor: str, basis: str, note: str = "", law: str | None = None
    ) -> RequestView:
        if basis not in DENIAL_BASES:
            raise InvalidInput(f"unknown basis {basis!r}; one of {', '.join(DENIAL_BASES)}")
        if basis == "legal_exemption" and not (law and law.strip()):
            raise InvalidInput("a legal exemption must name the law (for example: GDPR Art. 23(1)(e))")

        def change(s: Session, row: PrivacyRequest, now: datetime) -> None:
            self._must_be(row, {RECEIVED, IN_PROGRESS}, "denied")
            repo.set_fields(
                s,
                row.id,
                status=DENIED,
                decision="denied",
                decision_basis=basis,
                decision_law=law.strip() if law else None,
                decided_by=actor,
                decided_at=now,
                purge_after=self._purge_after(now),
                updated_at=now,
                **self._answered(row.received_on, row.due_on, now),
            )
            self._event(s, tenant, row.id, now, actor, "denied", _drop_none({"basis": basis, "law": law, "note": note}))

        return self._change(tenant, request_id, change)

    def withhold(
        self, tenant: str, request_id: str, *, actor: str, collections: list[str], basis: str, law: str | None = None
    ) -> RequestView:
        """Answer in part: name the collections withheld and why (the answer then counts as complied in part)."""
        if basis not in WITHHOLDING_BASES:
            raise InvalidInput(f"unknown basis {basis!r}; one of {', '.join(WITHHOLDING_BASES)}")
        if not collections or not all(isinstance(c, str) and c.strip() for c in collections):
            raise InvalidInput("name the collections withheld, as source.collection")
        if basis == "legal_exemption" and not (law and law.strip()):
            raise InvalidInput("a legal exemption must name the law")

        def change(s: Session, row: PrivacyRequest, now: datetime) -> None:
            self._must_be(row, {RECEIVED, IN_PROGRESS}, "answered in part")
            entry = _drop_none({"basis": basis, "law": law})
            withheld = [*(row.withheld or []), *({"collection": c.strip(), **entry} for c in collections)]
            repo.set_fields(
                s, row.id, decision="partial", withheld=withheld, decided_by=actor, decided_at=now, updated_at=now
            )
            self._event(s, tenant, row.id, now, actor, "withheld", {"collections": collections, **entry})

        return self._change(tenant, request_id, change)

    def extend(self, tenant: str, request_id: str, *, actor: str, reason: str) -> RequestView:
        def change(s: Session, row: PrivacyRequest, now: datetime) -> None:
            self._must_be(row, {RECEIVED, IN_PROGRESS}, "extended")
            today = now.astimezone(self.zone).date()
            deadline = Deadline(row.rule, row.received_on, row.due_on, row.extendable_until, row.confirm_by)
            longer = deadline.extend(today, self.rules.rule(row.rule), reason=reason)
            before = row.due_on  # read before the update (it refreshes the row in this session)
            repo.set_fields(
                s,
                row.id,
                due_on=longer.due,
                extended_on=today,
                extension_reason=reason.strip(),
                updated_at=now,
            )
            data = {"from": before.isoformat(), "to": longer.due.isoformat(), "reason": reason.strip()}
            self._event(s, tenant, row.id, now, actor, "extended", data)

        return self._change(tenant, request_id, change)

    def assign(self, tenant: str, request_id: str, *, actor: str, assignee: str | None) -> RequestView:
        def change(s: Session, row: PrivacyRequest, now: datetime) -> None:
            repo.set_fields(s, row.id, assignee=assignee or None, updated_at=now)
            self._event(s, tenant, row.id, now, actor, "assigned", {"assignee": assignee or None})

        return self._change(tenant, request_id, change)

    def comment(self, tenant: str, request_id: str, *, actor: str, text: str) -> RequestView:
        if not text.strip() or len(text) > 4000:
            raise InvalidInput("a comment is 1 to 4,000 characters")

        def change(s: Session, row: PrivacyRequest, now: datetime) -> None:
            repo.set_fields(s, row.id, updated_at=now)
            self._event(s, tenant, row.id, now, actor, "commented", {"text": text.strip()})

        return self._change(tenant, request_id, change)

    def cancel(self, tenant: str, request_id: str, *, actor: str, reason: str = "") -> RequestView:
        def change(s: Session, row: PrivacyRequest, now: datetime) -> None:
            self._must_be(row, {RECEIVED, IN_PROGRESS}, "canceled")
            repo.set_fields(s, row.id, status=CANCELED, purge_after=self._purge_after(now), updated_at=now)
            self._event(s, tenant, row.id, now, actor, "canceled", _drop_none({"reason": reason or None}))

        return self._change(tenant, request_id, change)

    def complete(self, tenant: str, request_id: str, *, actor: str, note: str) -> RequestView:
        """The answer was given by hand: work done outside dsar or needing no engine task (an opt-out honoured,
        an objection handled). The note of what was done is required and kept in the `responded` line (never in a
        webhook event); refused while an engine task of the case is still running (its end answers the case)."""
        if not note or not note.strip():
            raise InvalidInput("say what was done: completing a request needs a note (it is kept in the timeline)")

        def change(s: Session, row: PrivacyRequest, now: datetime) -> None:
            self._must_be(row, {IN_PROGRESS}, "completed")
            running = [t for t in (tasks_repo.record(s, tid) for tid in repo.task_ids(s, row.id)) if t is not None]
            if any(t.status not in FINAL for t in running):
                raise Conflict(
                    "an engine task of this request is still running: the request is answered when it ends",
                    code="TasksRunning",
                )
            self._respond(s, row, now, actor, COMPLETED, {"note": note.strip()})

        return self._change(tenant, request_id, change)

    def appeal(self, tenant: str, request_id: str, *, actor: str, channel: str, reason: str = "") -> str:
        """Appeal a denial: a request of its own (same type, same place), due by the rule's appeal period, linked
        to the first both ways in the timelines. Refused where the rule gives no right of appeal."""
        with self.db.session() as s:
            first = self._row(s, tenant, request_id, lock=True)
            if first.status != DENIED:
                raise Conflict("only a denied request can be appealed", code="InvalidRequestState")
            rule = self.rules.rule(first.rule)
            now = self.clock.now()
            due = rule.appeal_due(now.astimezone(self.zone).date())
            if due is None:
                raise Conflict(f"the rule {rule.id} gives no right of appeal", code="NoAppeal")
            row, received = self._new(tenant, first.type, channel, first.jurisdiction, "", now, False)
            row.update(subject_ref=first.subject_ref, subject_masked=first.subject_masked, due_on=due)
            row.update(extendable_until=None, confirm_by=None)
            repo.insert(s, row)
            rid = str(row["id"])
            received.update(due_on=due.isoformat(), appeal_of=first.id)
            self._event(s, tenant, rid, now, actor, "received", _drop_none({**received, "reason": reason or None}))
            self._event(s, tenant, first.id, now, actor, "appealed", {"appeal_id": rid})
            return rid

    def note_in(
        self, s: Session, tenant: str, request_id: str, *, actor: str, kind: str, data: dict[str, Any] | None
    ) -> None:
        """A line of the timeline written in the caller's transaction (a preference recorded, a rectification)."""
        self._event(s, tenant, request_id, self.clock.now(), actor, kind, data)

    def answer_in(self, s: Session, tenant: str, request_id: str, *, actor: str, data: dict[str, Any] | None) -> None:
        """The request is answered, in the caller's transaction (types answered on the spot: a preference, the
        categories)."""
        now = self.clock.now()
        row = self._row(s, tenant, request_id)
        self._respond(s, row, now, actor, COMPLETED, data)

    # -- tasks --------------------------------------------------------------------------------------------------

    def link_task_in(self, s: Session, tenant: str, request_id: str, task_id: str, *, actor: str) -> None:
        repo.link_task(s, request_id, task_id)
        self._event(s, tenant, request_id, self.clock.now(), actor, "task_started", {"task_id": task_id})

    def task_ended_in(self, s: Session, task_id: str, status: str, error_code: str | None = None) -> None:
        """In the transaction that ends an engine task: the case follows (the tasks' `on_end` hook, which passes
        the status and first error code it just wrote)."""
        case = repo.case_of_task(s, task_id)
        if case is not None and case.status not in ENDED:
            with self._batched(s):
                self._task_ended(s, case, task_id, status, error_code)

    def _task_ended(self, s: Session, row: repo.Case, task_id: str, status: str, error_code: str | None) -> None:
        now = self.clock.now()
        data = _drop_none({"task_id": task_id, "status": status, "error": error_code})
        self._event(s, row.tenant, row.id, now, "engine", "task_ended", data)
        if status == "COMPLETED" and row.type == "rectification":
            # The record of a rectification (GDPR Art. 16): each value before and after, in the timeline.
            task = tasks_repo.record(s, task_id)
            changed = ((task.summary or {}) if task else {}).get("rectified") or []
            if changed:
                self._event(s, row.tenant, row.id, now, "engine", "rectified", {"task_id": task_id, "changes": changed})
        if status == "COMPLETED" and row.type == "deletion" and row.subject_ref:
            repo.forget_rectified_values(s, row.subject_ref)  # the record keeps what changed, not the values
        if status == "COMPLETED":
            if repo.task_done(s, row.id, task_id):  # the last of its tasks
                self._respond(s, row, now, "engine", COMPLETED, None)
        elif error_code == "DATA_SUBJECT_NOT_FOUND":  # nothing held: answered by saying so
            repo.set_fields(
                s,
                row.id,
                status=DENIED,
                decision="denied",
                decision_basis="no_data_held",
                decided_by="engine",
                decided_at=now,
                purge_after=self._purge_after(now),
                updated_at=now,
                **self._answered(row.received_on, row.due_on, now),
            )
            self._event(s, row.tenant, row.id, now, "engine", "denied", {"basis": "no_data_held"})
        # Any other failure leaves the case open for the team (the timeline shows it; the deadline still runs).

    # -- the record ---------------------------------------------------------------------------------------------

    def record(self, tenant: str | None, start: date, end: date) -> Iterator[dict[str, Any]]:
        """Rows of the request record (CCPA regs §7101(a)) received in [start, end), in the company's time zone."""
        lo, hi = self._span(start, end)
        return report.record(self.db, tenant, lo, hi)

    def metrics(self, tenant: str | None, start: date, end: date) -> Metrics:
        """Per request type, in the shape of CCPA regs §7102(a)(1) (`dsar.requests.report.metrics`)."""
        lo, hi = self._span(start, end)
        return report.metrics(self.db, tenant, start, end, lo, hi, self.today())

    def remind(self, now: datetime | None = None) -> int:
        """A `reminder` line (and webhook event) for each open request due within `remind_days_before` days, once
        per due date (an extension earns a new one); the `requests-reminders` periodic job. How many were sent."""
        if self.remind_days_before <= 0:
            return 0
        at = now or self.clock.now()
        today = at.astimezone(self.zone).date()
        horizon = today + timedelta(days=self.remind_days_before)
        total = 0
        while True:
            with self.db.session() as s:
                rows = repo.to_remind(s, horizon, 500)
                with self._batched(s):
                    for rid, tenant, due in rows:
                        repo.set_fields(s, rid, reminded_for=due)
                        left = (due - today).days
                        facts = {"due_on": due.isoformat(), "days_left": left}
                        self._event(s, tenant, rid, at, "dsar", "reminder", facts)
            total += len(rows)
            if len(rows) < 500:
                return total

    def purge_expired(self, now: datetime | None = None) -> int:
        """Delete records past their retention, 1,000 per transaction (the `requests-purge` periodic job);
        returns how many went."""
        today = (now or self.clock.now()).astimezone(self.zone).date()
        total = 0
        while True:
            with self.db.session() as s:
                n = repo.purge(s, today)
            total += n
            if n < 1000:
                return total

    # -- internals ----------------------------------------------------------------------------------------------

    def _row(self, s: Session, tenant: str, request_id: str, *, lock: bool = False) -> PrivacyRequest:
        row = repo.get(s, tenant, request_id, lock=lock) if is_uuid(request_id) else None
        if row is None:  # unknown and foreign ids answer alike
            raise NotFound(f"no privacy request {request_id}")
        return row

    def _change(
        self, tenant: str, request_id: str, change: Callable[[Session, PrivacyRequest, datetime], None]
    ) -> RequestView:
        with self.db.session() as s:
            row = self._row(s, tenant, request_id, lock=True)
            change(s, row, self.clock.now())
        return self.get(tenant, request_id)

    def _must_be(self, row: PrivacyRequest, allowed: set[str], what: str) -> None:
        if row.status not in allowed:
            raise Conflict(f"a request that is {row.status} cannot be {what}", code="InvalidRequestState")

    def _respond(
        self,
        s: Session,
        row: repo.Case | PrivacyRequest,
        now: datetime,
        actor: str,
        status: str,
        data: dict[str, Any] | None,
    ) -> None:
        answered = self._answered(row.received_on, row.due_on, now)
        repo.set_fields(s, row.id, status=status, purge_after=self._purge_after(now), updated_at=now, **answered)
        self._event(s, row.tenant, row.id, now, actor, "responded", data)

    def _answered(self, received_on: date | None, due_on: date | None, now: datetime) -> dict[str, Any]:
        """The columns of an answer: when, after how many days (CCPA regs §7102(a)(1)(F)), and whether late."""
        day = now.astimezone(self.zone).date()
        return {
            "responded_at": now,
            "response_days": (day - received_on).days if received_on else None,
            "late": day > due_on if due_on else None,
        }

    def _purge_after(self, now: datetime) -> date:
        return Period(self.retention_months, "months").after(now.astimezone(self.zone).date())

    def _event(
        self, s: Session, tenant: str, request_id: str, at: datetime, actor: str, kind: str, data: dict[str, Any] | None
    ) -> None:
        seq = repo.add_event(s, request_id, at, actor, kind, data)
        if self.on_events is not None:
            event = CaseEvent(tenant, request_id, seq, kind, at, data or {})
            pending = s.info.get(_PENDING)
            if pending is not None:
                pending.append(event)
            else:
                self.on_events(s, [event])
        if self.on_change is not None:
            self.on_change(s, tenant, request_id, kind, data or {})

    def batched(self, s: Session) -> AbstractContextManager[None]:
        """`_batched` for the package's other services (preferences, categories)."""
        return self._batched(s)

    @contextmanager
    def _batched(self, s: Session) -> Iterator[None]:
        """The events of several lines written in this block go to the sink at once (one look at the webhook
        subscriptions, not one per line: the end of every task passes here)."""
        if self.on_events is None or _PENDING in s.info:
            yield
            return
        pending: list[CaseEvent] = []
        s.info[_PENDING] = pending
        try:
            yield
        finally:
            del s.info[_PENDING]
        if pending:
            self.on_events(s, pending)

    def _span(self, start: date, end: date) -> tuple[datetime, datetime]:
        if end <= start:
            raise InvalidInput("the end date must be after the start date")
        lo = datetime(start.year, start.month, start.day, tzinfo=self.zone).astimezone(UTC)
        hi = datetime(end.year, end.month, end.day, tzinfo=self.zone).astimezone(UTC)
        return lo, hi

    def _view(self, r: PrivacyRequest, task_ids: list[str] | None = None, events: Iterable[Any] = ()) -> RequestView:
        today = self.today()
        left = (r.due_on - today).days
        return RequestView(
            id=r.id,
            type=r.type,
            channel=r.channel,
            jurisdiction=r.jurisdiction,
            rule=r.rule,
            subject=r.subject_masked,
            status=r.status,
            received_at=r.received_at,
            due_on=r.due_on,
            days_left=left,
            overdue=r.status not in ENDED and left < 0,
            extendable_until=r.extendable_until,
            extended_on=r.extended_on,
            extension_reason=r.extension_reason,
            confirm_by=r.confirm_by,
            assignee=r.assignee,
            decision=r.decision,
            decision_basis=r.decision_basis,
            decision_law=r.decision_law,
            decided_by=r.decided_by,
            decided_at=r.decided_at,
            withheld=list(r.withheld or []),
            responded_at=r.responded_at,
            task_ids=task_ids or [],
            timeline=[TimelineEntry(e.at, e.actor, e.kind, e.data) for e in events],
        )


def _place(jurisdiction: str | None) -> str | None:
    """A jurisdiction as the rules name it (FR, US-CA, EEA), or None when not given."""
    if not jurisdiction or not jurisdiction.strip():
        return None
    place = jurisdiction.strip().upper()
    if not _PLACE.match(place):
        raise InvalidInput("a jurisdiction is a country code or country-region code, e.g. FR or US-CA")
    return place


def _type_and_channel(t: OpenedTask) -> tuple[str, str]:
    if t.kind == DELETION:
        return "deletion", "bulk" if t.bulk else t.channel
    if t.kind == RECTIFICATION:
        return "rectification", "bulk" if t.bulk else t.channel
    if t.channel == "adp":
        return "portability", "adp"
    return "access", "bulk" if t.bulk else t.channel


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v not in (None, "")}


def _encode_cursor(at: datetime, rid: str) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{rid}".encode()).decode("ascii").rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8")
        at, rid = raw.split("|", 1)
        parsed = datetime.fromisoformat(at)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput("after is not a cursor this API returned") from None
    if parsed.tzinfo is None or not is_uuid(rid):
        raise InvalidInput("after is not a cursor this API returned")
    return parsed, rid
