"""Manual steps: the worker's gate before a walk, the respondents' signed links, reminders and the CLI's answers.

A retrieval or deletion whose data map has manual sources asks `gate` first. Each manual source gets a step (one
row per task and source) and its respondent an e-mail with a signed link (`/steps/<token>`, valid `link_days`);
while a step is open the gate tells the worker to give the task back (`wait_until`), so no worker waits. An
answer (files, "no data", "erased") closes the step; at the deadline the source's policy does (`block`: the task
fails with MANUAL_STEP_OVERDUE, `complete_without`: it completes without the source and the archive says so).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from dsar import log
from dsar.datamap.manual import ManualSource
from dsar.datamap.model import DataMap
from dsar.db.engine import Database
from dsar.db.sealed import seal_clear
from dsar.engine.archive import member_base
from dsar.engine.results import SourceReport, Status
from dsar.errors import Conflict, DataMapError, InvalidInput, NotFound
from dsar.kit.clock import Clock, as_utc
from dsar.kit.signing import sign, verify
from dsar.manual.files import Upload, check_files
from dsar.manual.models import (
    ANSWERED,
    COMPLETED_WITHOUT,
    ERASED,
    NO_DATA,
    OVERDUE,
    PENDING,
    ManualStep,
)
from dsar.manual.settings import ManualSettings
from dsar.notifications.email import queue_email
from dsar.storage.base import Storage
from dsar.tasks.contract import ManualOutcome, TaskRef
from dsar.tasks.states import DELETION

_log = log.get("dsar.manual")
PURPOSE = "manual-step"  # bound into every link signature: a link of another kind never opens a step
PATH = "/steps/"
OUTCOMES = {"retrieval": (ANSWERED, NO_DATA), "deletion": (ERASED, NO_DATA)}


@dataclass(frozen=True)
class StepView:
    """A step as the respondent's page, the CLI and (later) the console show it."""

    id: str
    task_id: str
    source: str
    action: str
    status: str
    subject: dict[str, str]
    instructions: str
    created_at: datetime
    deadline_at: datetime
    reminders: int
    answered_at: datetime | None
    answered_by: str | None
    files: list[dict[str, Any]] = field(default_factory=list)

    @property
    def open(self) -> bool:
        return self.status == PENDING


class ManualSteps:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        storage: Storage,
        datamap: Callable[[], DataMap],
        key: bytes,
        settings: ManualSettings,
        public_url: str,
        sender: str,
        company: str,
        on_answer: Callable[[str], None] | None = None,
    ) -> None:
        self.db, self.clock, self.storage, self._datamap = db, clock, storage, datamap
        self.key, self.s = key, settings
        self.public_url, self.sender, self.company = public_url.rstrip("/"), sender, company
        self.on_answer = on_answer  # told the task id once an answer is committed: its task runs now

    # --- links --------------------------------------------------------------------------------------------

    def link(self, step_id: str, now: datetime | None = None) -> str:
        expires = str(int(((now or self.clock.now()) + timedelta(days=self.s.link_days)).timestamp()))
        return f"{self.public_url}{PATH}{step_id}.{expires}.{sign(self.key, PURPOSE, step_id, expires)}"

    def _step_of(self, token: str) -> str:
        """The step a link names; `NotFound` alike for a forged, altered or expired link."""
        parts = token.split(".")
        if len(parts) != 3 or not parts[1].isdigit() or not verify(self.key, parts[2], PURPOSE, parts[0], parts[1]):
            raise NotFound("No such step link.", code="NOT_FOUND")
        if int(parts[1]) < self.clock.now().timestamp():
            raise NotFound("No such step link.", code="NOT_FOUND")
        return parts[0]

    # --- the worker's gate ----------------------------------------------------------------------------------

    def gate(self, ref: TaskRef) -> ManualOutcome:
        manual = self._datamap().manual_sources()
        if not manual:
            return ManualOutcome()
        action = "deletion" if ref.kind == DELETION else "retrieval"
        now = self.clock.now()
        with self.db.session() as s:
            steps = {st.source: st for st in s.scalars(select(ManualStep).where(ManualStep.task_id == ref.id))}
            for name, spec in manual.items():
                st = steps.get(name)
                if st is None:
                    steps[name] = self._open(s, ref, name, spec, action, now)
                elif st.status == PENDING and as_utc(st.deadline_at) <= now:
                    st.status = OVERDUE if spec.on_timeout == "block" else COMPLETED_WITHOUT
                    st.answered_at, st.answered_by = now, "policy"
                    _log.info("manual_step_timeout", step=st.id, source=name, policy=spec.on_timeout)
            views = {name: _view(steps[name], manual[name]) for name in manual}
        return self._outcome(views, manual, now)

    def _open(self, s: Session, ref: TaskRef, name: str, spec: ManualSource, action: str, now: datetime) -> ManualStep:
        st = ManualStep(
            id=secrets.token_hex(16),
            task_id=ref.id,
            source=name,
            action=action,
            subject=orjson.dumps(ref.subject()).decode(),
            status=PENDING,
            created_at=now,
            deadline_at=now + timedelta(days=spec.deadline_days),
            remind_at=now + timedelta(days=spec.remind_every_days),
            reminders=0,
            files=[],
        )
        s.add(st)
        self._mail(s, st, spec, now, reminder=False)
        _log.info("manual_step_opened", step=st.id, task_id=ref.id, source=name)
        return st

    def _outcome(self, views: dict[str, StepView], manual: dict[str, ManualSource], now: datetime) -> ManualOutcome:
        overdue = [v for v in views.values() if v.status == OVERDUE]
        if overdue:
            v = overdue[0]
            days = manual[v.source].deadline_days
            return ManualOutcome(
                blocked=("MANUAL_STEP_OVERDUE", f"The manual source '{v.source}' was not answered within {days} days.")
            )
        pending = [v for v in views.values() if v.open]
        if pending:
            soonest = min(v.deadline_at for v in pending)
            return ManualOutcome(wait_until=min(now + timedelta(seconds=self.s.poll_seconds), soonest))
        dm = self._datamap()
        reports: list[SourceReport] = []
        members: list[tuple[str, Callable[[], Iterator[bytes]]]] = []
        found = 0
        for name, v in views.items():
            rows = sum(int(f.get("rows", 0)) for f in v.files)
            detail = {
                ANSWERED: "answered by a person",
                NO_DATA: "a person attested that it holds no data about the subject",
                ERASED: "a person attested that the subject's data was erased",
                COMPLETED_WITHOUT: f"not answered within {manual[name].deadline_days} days; completed without it",
            }[v.status]
            status: Status = "not_found"
            if v.status in (ANSWERED, COMPLETED_WITHOUT):
                status = "found" if v.status == ANSWERED else "skipped"
            reports.append(
                SourceReport(
                    name,
                    dm.sources[name].description,
                    status,
                    detail,
                    rows,
                    [],
                    manual=v.status,
                )
            )
            base = member_base(name, "x").rsplit("/", 1)[0]  # data/<source>, sanitised as the archive does
            for f in v.files:
                if f.get("key"):  # purged files are gone (the task ended long before)
                    members.append((f"{base}/{f['name']}", self._reader(str(f["key"]))))
            found += len(v.files) + (1 if v.status == ERASED else 0)
        return ManualOutcome(reports=reports, members=members, found=found)

    def _reader(self, key: str) -> Callable[[], Iterator[bytes]]:
        def chunks() -> Iterator[bytes]:
            with self.storage.open(key) as fh:
                while chunk := fh.read(1 << 16):
                    yield chunk

        return chunks

    # --- e-mails --------------------------------------------------------------------------------------------

    def _mail(self, s: Session, st: ManualStep, spec: ManualSource, now: datetime, *, reminder: bool) -> None:
        verb = "erase" if st.action == "deletion" else "see"
        deadline = as_utc(st.deadline_at).strftime("%Y-%m-%d")
        subject = f"{self.company}: a privacy request needs your search of {st.source}"
        subject = ("Reminder: " if reminder else "") + subject
        text = (
            f"{self.company} received a request from a person to {verb} the personal data held about them.\n"
            f"The system '{st.source}' is searched by hand, and you were named to do it.\n\n"
            f"Open this link to see whom to search for and to answer (upload what you found as CSV or JSON, or say "
            f"that there is nothing{' or that you erased it' if st.action == 'deletion' else ''}):\n\n"
            f"{self.link(st.id, now)}\n\n"
            f"Please answer by {deadline} (UTC). The link needs no account and works for {self.s.link_days} days; "
            f"do not forward it.\n"
        )
        queue_email(s, now, sender=self.sender, to=spec.respondent, subject=subject, text=text)

    def remind_due(self, now: datetime) -> int:
        """The periodic job: a new link to each respondent whose open step is due a reminder; how many were sent."""
        try:
            manual = self._datamap().manual_sources()
        except DataMapError:  # no data map configured: no manual source, no step
            return 0
        if not manual:
            return 0
        sent = 0
        with self.db.session() as s:
            q = select(ManualStep).where(ManualStep.status == PENDING, ManualStep.remind_at <= now).limit(500)
            for st in s.scalars(q):
                spec = manual.get(st.source)
                if spec is None or as_utc(st.deadline_at) <= now:
                    continue  # the source left the data map, or the deadline passed: the gate closes it
                self._mail(s, st, spec, now, reminder=True)
                st.reminders += 1
                st.remind_at = now + timedelta(days=spec.remind_every_days)
                sent += 1
        if sent:
            _log.info("manual_reminders_sent", count=sent)
        return sent

    def purge_expired(self, now: datetime) -> int:
        """The periodic job: steps closed `retention_days` ago (and whose task waits for no other step) lose their
        uploaded files and the identities they searched for; the record of what was answered stays. How many."""
        cutoff = now - timedelta(days=self.s.retention_days)
        waiting = select(ManualStep.task_id).where(ManualStep.status == PENDING)
        q = (
            select(ManualStep)
            .where(
                ManualStep.status != PENDING,
                ManualStep.answered_at < cutoff,
                ManualStep.purged_at.is_(None),
                ManualStep.task_id.not_in(waiting),
            )
            .limit(500)
        )
        purged = 0
        with self.db.session() as s:
            for st in s.scalars(q):
                for f in st.files or []:
                    if f.get("key"):
                        self.storage.delete(str(f["key"]))
                st.files = [{k: v for k, v in f.items() if k != "key"} for f in st.files or []]
                st.subject, st.purged_at = "{}", now
                purged += 1
        if purged:
            _log.info("manual_steps_purged", count=purged)
        return purged

    # --- answers --------------------------------------------------------------------------------------------

    def view_link(self, token: str) -> StepView:
        return self.show(self._step_of(token))

    def answer_link(self, token: str, outcome: str, uploads: list[Upload]) -> StepView:
        return self.answer(self._step_of(token), outcome, uploads, by="link")

    def answer(self, step_id: str, outcome: str, uploads: list[Upload], *, by: str) -> StepView:
        """Close an open step: `answered` with files, or `no_data` / `erased` (deletions) without. Everything is
        checked before anything is kept: a bad answer changes nothing."""
        with self.db.session() as s:
            st = s.scalars(select(ManualStep).where(ManualStep.id == step_id).with_for_update()).one_or_none()
            if st is None:
                raise NotFound("No such step.", code="NOT_FOUND")
            if st.status != PENDING:
                raise Conflict("This step is closed already.", code="STEP_CLOSED")
            if outcome not in OUTCOMES[st.action]:
                allowed = " or ".join(OUTCOMES[st.action])
                raise InvalidInput(f"Answer {allowed} for this step.", code="BAD_OUTCOME")
            if outcome == ANSWERED and not uploads:
                raise InvalidInput("Upload at least one CSV or JSON file.", code="NO_FILES")
            if outcome != ANSWERED and uploads:
                raise InvalidInput("Files go with an answer that found data.", code="UNEXPECTED_FILES")
            files = check_files(uploads, max_bytes=self.s.max_upload_bytes, max_files=self.s.max_files)
            kept = []
            for f in files:
                key = f"manual-steps/{st.id}/{f.name}"
                ctype = "text/csv" if f.name.endswith(".csv") else "application/json"
                self.storage.put_stream(key, [f.data], content_type=ctype)
                kept.append({"name": f.name, "size": len(f.data), "sha256": f.sha256, "rows": f.rows, "key": key})
            st.status, st.files = outcome, kept
            st.answered_at, st.answered_by = self.clock.now(), by
            _log.info("manual_step_answered", step=st.id, outcome=outcome, files=len(kept), by=by)
            view = _view(st, self._datamap().manual_sources().get(st.source))
        if self.on_answer is not None:
            self.on_answer(view.task_id)
        return view

    # --- reading (CLI, console) -----------------------------------------------------------------------------

    def show(self, step_id: str) -> StepView:
        with self.db.session(write=False) as s:
            st = s.get(ManualStep, step_id)
            if st is None:
                raise NotFound("No such step.", code="NOT_FOUND")
            return _view(st, self._datamap().manual_sources().get(st.source))

    def list(self, status: str | None = None, task_id: str | None = None, limit: int = 200) -> list[StepView]:
        q = select(ManualStep).order_by(ManualStep.created_at.desc()).limit(limit)
        if status:
            q = q.where(ManualStep.status == status)
        if task_id:
            q = q.where(ManualStep.task_id == task_id)
        manual = self._datamap().manual_sources()
        with self.db.session(write=False) as s:
            return [_view(st, manual.get(st.source)) for st in s.scalars(q)]


def _view(st: ManualStep, spec: ManualSource | None) -> StepView:
    return StepView(
        id=st.id,
        task_id=st.task_id,
        source=st.source,
        action=st.action,
        status=st.status,
        subject=dict(orjson.loads(st.subject)),
        instructions=spec.instructions if spec is not None else "",
        created_at=as_utc(st.created_at),
        deadline_at=as_utc(st.deadline_at),
        reminders=st.reminders,
        answered_at=as_utc(st.answered_at) if st.answered_at else None,
        answered_by=st.answered_by,
        files=list(st.files or []),
    )


def seal_clear_fields(s: Session, limit: int = 1000) -> int:
    """Seal up to `limit` steps' identities written in clear before encryption at rest was on (`dsar keys rotate`)."""
    return seal_clear(s, ManualStep.subject, ManualStep.id, limit)
