"""The privacy center's flow: a person submits a request, proves their identity, follows it, downloads the
answer, cancels it or appeals a denial; an authorized agent submits for someone who then confirms.

Nothing here depends on whether the data map knows an e-mail: a submission opens a case and e-mails a code
whoever asks, so a known and an unknown address get the same answers (and the same work, hence similar
timings). The case (`dsar.requests`) holds only a keyed hash and a masked e-mail; the address to write to is
kept here (`privacy_center_requesters`) until the download window has passed. Every e-mail about a case's
changes goes through the outbox in the transaction of the change (`case_changed`, the requests' `on_change`);
only the codes are sent at once (a code that arrives an hour late is useless, and the outbox would hold it
in clear until then).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from contextlib import suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from typing import Any

from sqlalchemy.orm import Session

from dsar import log
from dsar.auth.oidc import OidcClient, OidcError
from dsar.db.engine import Database
from dsar.errors import Conflict, DsarError, InvalidInput, NotFound, Unavailable
from dsar.kit.clock import Clock
from dsar.notifications.email import queue_email
from dsar.notifications.mail import Mailer
from dsar.requests import repository as requests_repo
from dsar.requests.service import DENIED, Filter, PrivacyRequests, RequestView
from dsar.storage.base import Storage
from dsar.tasks.records import OpenedTask
from dsar.tasks.service import PrivacyTasks
from dsar.tasks.states import COMPLETED, DELETION, RETRIEVAL
from dsar.verification import codes
from dsar.verification import repository as repo
from dsar.verification.datapoints import Lookup, normalize
from dsar.verification.messages import Messages
from dsar.verification.models import Challenge, Requester
from dsar.verification.settings import PrivacyCenterSettings

_log = log.get("dsar.verification")
CHANNEL = "privacy_center"
TASK_TENANT = "privacy-center"  # the engine tasks of the center's cases (no API client sees them)
SESSION = timedelta(minutes=30)  # a verified status check stays usable this long
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_PLACE = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")
_CASE: ContextVar[str | None] = ContextVar("privacy_center_case", default=None)
WORK_TYPES = {"access": RETRIEVAL, "portability": RETRIEVAL, "deletion": DELETION}
DOCUMENT_TYPES = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}
MAX_DOCUMENT = 5 * 1024 * 1024


@dataclass(frozen=True)
class Agent:
    name: str
    email: str
    document: bytes
    content_type: str


@dataclass(frozen=True)
class ChallengeView:
    id: str
    purpose: str
    step: str  # code | data_points | oidc | done | failed | expired
    level: str
    questions: list[tuple[str, str]] = field(default_factory=list)  # (name, label)
    tries_left: int = 0
    request_id: str | None = None


@dataclass(frozen=True)
class StatusItem:
    request: RequestView
    can_cancel: bool
    can_appeal: bool
    appeal_until: date | None
    download_url: str | None
    download_until: date | None


class PrivacyCenter:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        requests: PrivacyRequests,
        storage: Storage,
        mailer: Mailer,
        messages: Messages,
        settings: PrivacyCenterSettings,
        key: bytes,
        public_url: str,
        sender: str,
        company: str,
        oidc: OidcClient | None = None,
        data_points: Lookup | None = None,
        link_ttl_seconds: int = 300,
    ) -> None:
        self.db, self.clock, self.requests, self.storage = db, clock, requests, storage
        self.mailer, self.messages, self.s, self.key = mailer, messages, settings, key
        self.public_url, self.sender, self.company = public_url.rstrip("/"), sender, company
        self.oidc, self.data_points, self.link_ttl = oidc, data_points, link_ttl_seconds
        self.tenant = requests.company_tenant
        self.tasks: PrivacyTasks | None = None  # set by the composition root (its on_open is `task_opened`)

    # -- submitting ------------------------------------------------------------------------------------------

    def level(self, request_type: str) -> str:
        return self.s.levels.get(request_type, "code")

    def submit(
        self, *, type: str, email: str, jurisdiction: str | None, language: str, agent: Agent | None = None
    ) -> str:
        """Open the case and send the code (to the person, also when an agent submits); the challenge's id."""
        if type not in self.s.request_types:
            raise InvalidInput("this request type is not offered", code="UnknownType")
        email = _checked_email(email)
        if agent is not None:
            _check_agent(agent)
        place = (jurisdiction or "").strip().upper()
        jurisdiction = place if _PLACE.fullmatch(place) else None  # anything else: the default rule
        now = self.clock.now()
        with self.db.session() as s:
            rid = self.requests.open_in(
                s, tenant=self.tenant, type=type, channel=CHANNEL, email=email, actor=CHANNEL, jurisdiction=jurisdiction
            )
            document = self._store_document(rid, agent) if agent is not None else None
            repo.add_requester(
                s,
                Requester(
                    request_id=rid,
                    email=email,
                    locale=language,
                    agent_email=_checked_email(agent.email) if agent else None,
                    agent_name=agent.name.strip()[:200] if agent else None,
                    agent_document=document,
                    created_at=now,
                ),
            )
            purpose = "confirm" if agent is not None else "submit"
            cid, code = self._challenge(s, purpose, rid, email, now)
        self._send_code(email, language, code, purpose, type, agent, cid)
        _log.info("privacy_center_submitted", request_id=rid, type=type, agent=agent is not None)
        return cid

    def start_status(self, email: str, language: str) -> str:
        """A check before the status page: the same answer whether or not the address ever made a request."""
        email = _checked_email(email)
        with self.db.session() as s:
            cid, code = self._challenge(s, "status", None, email, self.clock.now())
        self._send_code(email, language, code, "status", "access", None, cid)
        return cid

    def _challenge(self, s: Session, purpose: str, rid: str | None, email: str, now: datetime) -> tuple[str, str]:
        cid = secrets.token_urlsafe(32)
        code = codes.new_code()
        budget = repo.take_budget(s, self.requests.subject_ref(email), now, self.s.codes_per_hour)
        repo.add_challenge(
            s,
            Challenge(
                id=cid,
                purpose=purpose,
                request_id=rid,
                subject_ref=self.requests.subject_ref(email),
                code_hash=codes.code_hash(self.key, cid, code) if budget else None,
                attempts=0,
                created_at=now,
                expires_at=now + timedelta(seconds=self.s.code_ttl_seconds),
                failed=False,
                step="code",
            ),
        )
        return cid, code if budget else ""  # over budget: no e-mail, and no code can match; the page is the same

    def _send_code(
        self, email: str, language: str, code: str, purpose: str, rtype: str, agent: Agent | None, cid: str
    ) -> None:
        if not code:
            return
        minutes = self.s.code_ttl_seconds // 60
        if purpose == "confirm" and agent is not None:
            r = self.messages.render(
                "confirm_agent",
                language,
                agent=agent.name,
                type=rtype,
                code=code,
                url=f"{self.public_url}/privacy/verify/{cid}",
            )
        else:
            r = self.messages.render("code", language, code=code, minutes=minutes)
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = self.sender, email, r.subject
        msg["Content-Language"] = r.language
        msg.set_content(r.text)
        msg.add_alternative(r.html, subtype="html")
        try:
            self.mailer.send(msg)
        except Exception as exc:  # the same page either way; the person asks for a new code
            _log.warning("privacy_center_code_not_sent", error=type(exc).__name__)

    def _store_document(self, rid: str, agent: Agent) -> str:
        ext = DOCUMENT_TYPES[agent.content_type]
        doc = secrets.token_hex(16)
        self.storage.put_stream(f"privacy-center/agents/{rid}/{doc}.{ext}", [agent.document], agent.content_type)
        return f"{doc}.{ext}"

    # -- verifying -------------------------------------------------------------------------------------------

    def challenge(self, cid: str) -> ChallengeView:
        with self.db.session(write=False) as s:
            c = self._get(s, cid)
            return self._view(s, c)

    def check_code(self, cid: str, code: str) -> ChallengeView:
        with self.db.session() as s:
            c = self._get(s, cid, lock=True)
            if c.step != "code" or self._closed(c):
                return self._view(s, c)
            if not codes.matches(self.key, c.id, c.code_hash, code):
                view = self._wrong(s, c)
            elif c.purpose == "submit" and self._level_of(s, c) == "data_points" and self.s.data_points:
                c.code_hash, c.step = None, "data_points"  # used once; the next step asks the questions
                return self._view(s, c)
            else:
                c.code_hash = None
                self._passed(s, c)
                view = self._view(s, c)
        self._after(view)
        return view

    def check_answers(self, cid: str, answers: dict[str, str]) -> ChallengeView:
        with self.db.session() as s:
            c = self._get(s, cid, lock=True)
            if c.step != "data_points" or self._closed(c):
                return self._view(s, c)
            requester = repo.requester(s, c.request_id or "")
            email = requester.email if requester else ""
        right = bool(email) and self.data_points is not None
        for point in self.s.data_points:
            try:
                expected = self.data_points(email, point) if right and self.data_points else set()
            except DsarError as exc:  # a source is down: no try is spent, the person tries again later
                _log.warning("privacy_center_data_points_unavailable", error=type(exc).__name__)
                raise Unavailable("data map", "the answers cannot be checked right now") from None
            right = right and normalize(answers.get(point.name, "")) in expected and bool(expected)
        with self.db.session() as s:
            c = self._get(s, cid, lock=True)
            if c.step != "data_points" or self._closed(c):
                return self._view(s, c)
            if right:
                self._passed(s, c)
            view = self._view(s, c) if right else self._wrong(s, c)
        self._after(view)
        return view

    def oidc_url(self, cid: str) -> str:
        if self.oidc is None:
            raise NotFound("no company sign-in")
        state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48)
        with self.db.session() as s:
            c = self._get(s, cid, lock=True)
            if self._closed(c):
                raise Conflict("this check has ended", code="ChallengeClosed")
            c.oidc_state, c.oidc_nonce, c.oidc_verifier = state, nonce, verifier
        from dsar.odr.oauth import s256

        return self.oidc.authorization_url(state, nonce, s256(verifier))

    def finish_oidc(self, state: str, code: str) -> ChallengeView:
        """The company's identity provider sent the person back: their verified e-mail must be the request's."""
        if self.oidc is None or not state:
            raise NotFound("no such sign-in")
        with self.db.session() as s:
            c = repo.challenge_by_oidc_state(s, state)
            if c is None:
                raise NotFound("no such sign-in")
            cid, nonce, verifier = c.id, c.oidc_nonce or "", c.oidc_verifier or ""
            c.oidc_state = None
        try:
            email = self.oidc.verified_email(code, verifier, nonce)
        except OidcError as exc:
            _log.warning("privacy_center_oidc_refused", reason=exc.reason)
            email = ""
        with self.db.session() as s:
            c = self._get(s, cid, lock=True)
            if self._closed(c):
                return self._view(s, c)
            right = bool(email) and self.requests.subject_ref(email) == c.subject_ref
            if right:
                self._passed(s, c)
            view = self._view(s, c) if right else self._wrong(s, c)
        self._after(view)
        return view

    def _get(self, s: Session, cid: str, *, lock: bool = False) -> Challenge:
        c = repo.challenge(s, cid, lock=lock) if 20 <= len(cid) <= 64 else None
        if c is None:
            raise NotFound("this check has expired; start again")
        return c

    def _closed(self, c: Challenge) -> bool:
        return c.failed or c.verified_at is not None or c.expires_at <= self.clock.now()

    def _level_of(self, s: Session, c: Challenge) -> str:
        case = requests_repo.get(s, self.tenant, c.request_id) if c.request_id else None
        return self.level(case.type) if case is not None else "code"

    def _wrong(self, s: Session, c: Challenge) -> ChallengeView:
        c.attempts += 1
        if c.attempts >= self.s.code_attempts:
            c.failed, c.code_hash = True, None
            _log.info("privacy_center_check_failed", purpose=c.purpose)
        return self._view(s, c)

    def _passed(self, s: Session, c: Challenge) -> None:
        now = self.clock.now()
        c.verified_at, c.step = now, "done"
        if c.purpose == "status":
            c.expires_at = now + SESSION
        elif c.request_id:
            requester = repo.requester(s, c.request_id, lock=True)
            if requester is not None:
                requester.verified_at = now
                if c.purpose == "confirm":
                    requester.confirmed_at = now
            requests_repo.add_event(s, c.request_id, now, "verification", "verified", {"method": c.purpose})

    def _view(self, s: Session, c: Challenge) -> ChallengeView:
        if c.failed:
            step = "failed"
        elif c.verified_at is not None:
            step = "done"
        elif c.expires_at <= self.clock.now():
            step = "expired"
        else:
            step = c.step
        level = self._level_of(s, c) if c.purpose != "status" else "code"
        questions = [(p.name, p.label) for p in self.s.data_points] if step == "data_points" else []
        left = max(self.s.code_attempts - c.attempts, 0)
        return ChallengeView(c.id, c.purpose, step, level, questions, left, c.request_id)

    def _after(self, view: ChallengeView) -> None:
        """After the check's transaction: a failed check ends its request (denied, "identity not verified"); a
        verified request goes ahead (approved by policy for the types that allow it, its work started)."""
        if not view.request_id or view.purpose == "status" or view.step not in ("done", "failed"):
            return
        rid = view.request_id
        if view.step == "failed":
            with suppress(Conflict):  # ended meanwhile (cancelled, decided by the team)
                self.requests.deny(self.tenant, rid, actor="verification", basis="identity_not_verified")
            return
        case = self.requests.get(self.tenant, rid)
        with self.db.session() as s:
            self._queue(s, rid, "received", case)
        if case.type in self.s.auto_approve and case.status == "received":
            self.requests.approve(self.tenant, rid, actor="policy")
        self.start_work(rid)

    # -- the work ---------------------------------------------------------------------------------------------

    def start_work(self, rid: str) -> None:
        """Start the engine work of a verified, approved case (once); types without engine work are answered here."""
        case = self.requests.get(self.tenant, rid)
        if case.status != "in_progress" or case.task_ids:
            return
        with self.db.session(write=False) as s:
            who = repo.requester(s, rid)
            if who is None or who.verified_at is None or (who.agent_email and who.confirmed_at is None):
                return  # an agent's request waits for the person's confirmation
            email = who.email
        kind = WORK_TYPES.get(case.type)
        if kind is None:  # opt-out and the other preferences: recorded on the case (no preferences API yet)
            self.requests.complete(self.tenant, rid, actor="policy", note=f"{case.type} recorded")
            return
        assert self.tasks is not None
        token = _CASE.set(rid)
        try:
            if kind == RETRIEVAL:
                self.tasks.start_retrieval(TASK_TENANT, email, f"privacy-center:{rid}", channel=CHANNEL)
            else:
                days = self.s.deletion_holding_days
                self.tasks.start_deletion(TASK_TENANT, email, days, None, f"privacy-center:{rid}", channel=CHANNEL)
        finally:
            _CASE.reset(token)

    def task_opened(self, s: Session, opened: Sequence[OpenedTask]) -> None:
        """The on_open hook of the center's tasks: the task goes under the case that started it."""
        rid = _CASE.get()
        if rid is None:
            return
        for t in opened:
            self.requests.link_task_in(s, self.tenant, rid, t.task_id, actor=CHANNEL)

    def run_due(self) -> int:
        """The periodic job: start the work of cases the team approved, remind of expiring downloads, forget
        addresses whose download window has passed. How many things it did."""
        now = self.clock.now()
        done = 0
        with self.db.session(write=False) as s:
            ids = [r.request_id for r in repo.waiting(s)]
        for rid in ids:
            try:
                self.start_work(rid)
                done += 1
            except (NotFound, Conflict):
                continue
        window = timedelta(days=self.s.download_days)
        with self.db.session() as s:
            for who in repo.to_remind(s, now - window + timedelta(days=self.s.reminder_days)):
                self._queue(s, who.request_id, "reminder", None, who=who)
                who.reminded_at = now
                done += 1
            done += repo.delete_expired(s, now, now - window)
        return done

    # -- e-mails about a case ---------------------------------------------------------------------------------

    def case_changed(self, s: Session, tenant: str, rid: str, kind: str, data: dict[str, Any]) -> None:
        """The requests' on_change hook, in the change's transaction: tell the person (when they came here)."""
        if tenant != self.tenant or kind not in ("extended", "denied", "responded"):
            return
        who = repo.requester(s, rid)
        if who is None:
            return
        if kind == "responded":
            who.completed_at = self.clock.now()
            kind = "completed"
        self._queue(s, rid, kind, None, who=who, data=data)

    def _queue(
        self,
        s: Session,
        rid: str,
        kind: str,
        case: RequestView | None,
        *,
        who: Requester | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        who = who or repo.requester(s, rid)
        row = requests_repo.get(s, self.tenant, rid)
        if who is None or row is None:
            return
        status_url = f"{self.public_url}/privacy/status"
        data = data or {}
        ctx: dict[str, Any] = {"reference": rid[:8].upper(), "type": row.type, "status_url": status_url}
        if kind == "received":
            ctx.update(due=row.due_on, appeal_of=_appeal_of(s, rid))
        elif kind == "extended":
            ctx.update(due=row.due_on, reason=data.get("reason") or row.extension_reason or "")
        elif kind == "denied":
            until = self._appeal_until(row.rule, row.decided_at or self.clock.now(), rid, s)
            ctx.update(
                basis=row.decision_basis or data.get("basis", ""),
                law=row.decision_law or "",
                appeal_url=f"{self.public_url}/privacy/status" if until else "",
                appeal_until=until,
                regulator=self.s.regulators.get(row.rule, ""),
            )
        elif kind in ("completed", "reminder"):
            done = who.completed_at or self.clock.now()
            ctx.update(
                download=row.type in ("access", "portability"), expires=done + timedelta(days=self.s.download_days)
            )
        r = self.messages.render(kind, who.locale, **ctx)
        queue_email(
            s,
            self.clock.now(),
            sender=self.sender,
            to=who.email,
            subject=r.subject,
            text=r.text,
            html=r.html,
            language=r.language,
        )

    def _appeal_until(self, rule_id: str, decided: datetime, rid: str, s: Session) -> date | None:
        rule = self.requests.rules.rule(rule_id)
        if rule.appeal_respond is None or _appeal_of(s, rid):
            return None  # no right of appeal there (or this is the appeal)
        return (decided + timedelta(days=self.s.appeal_window_days)).date()

    # -- the status page --------------------------------------------------------------------------------------

    def session_subject(self, cid: str) -> str:
        """The subject of a verified, unexpired status check (the page's session)."""
        with self.db.session(write=False) as s:
            c = repo.challenge(s, cid) if 20 <= len(cid) <= 64 else None
            if c is None or c.verified_at is None or c.failed or c.expires_at <= self.clock.now():
                raise NotFound("verify your e-mail address again")
            return c.subject_ref

    def status(self, cid: str) -> list[StatusItem]:
        subject = self.session_subject(cid)
        page = self.requests.page(self.tenant, Filter(subject_ref=subject, channel=CHANNEL), first=100)
        return [self._item(v) for v in page.items]

    def _mine(self, cid: str, rid: str) -> RequestView:
        subject = self.session_subject(cid)
        with self.db.session(write=False) as s:
            row = requests_repo.get(s, self.tenant, rid) if re.fullmatch(r"[0-9a-f-]{36}", rid) else None
            if row is None or row.subject_ref != subject or row.channel != CHANNEL:
                raise NotFound(f"no privacy request {rid}")
        return self.requests.get(self.tenant, rid)

    def _item(self, v: RequestView) -> StatusItem:
        with self.db.session(write=False) as s:
            who = repo.requester(s, v.id)
            until = self._appeal_until(v.rule, v.decided_at, v.id, s) if v.status == DENIED and v.decided_at else None
            appealed = any(e.kind == "appealed" for e in self.requests.get(self.tenant, v.id).timeline)
        url, download_until = None, None
        if v.status == "completed" and who is not None and who.completed_at and v.type in ("access", "portability"):
            download_until = (who.completed_at + timedelta(days=self.s.download_days)).date()
        today = self.requests.today()
        return StatusItem(
            request=v,
            can_cancel=v.status == "received" or (v.status == "in_progress" and not v.task_ids),
            can_appeal=until is not None and today <= until and not appealed,
            appeal_until=until,
            download_url=url,
            download_until=download_until if download_until and today <= download_until else None,
        )

    def download_url(self, cid: str, rid: str) -> str:
        v = self._mine(cid, rid)
        item = self._item(v)
        if item.download_until is None or self.tasks is None:
            raise NotFound("nothing to download")
        for task_id in v.task_ids:
            t = self.tasks.get(TASK_TENANT, task_id, RETRIEVAL)
            if t.status == COMPLETED and t.result_key:
                return self.storage.signed_url(t.result_key, self.link_ttl, filename="personal-data.zip")
        raise NotFound("nothing to download")

    def cancel(self, cid: str, rid: str) -> RequestView:
        v = self._mine(cid, rid)
        if not self._item(v).can_cancel:
            raise Conflict("this request can no longer be cancelled", code="InvalidRequestState")
        return self.requests.cancel(self.tenant, rid, actor="subject", reason="cancelled by the person")

    def appeal(self, cid: str, rid: str, reason: str, language: str) -> str:
        v = self._mine(cid, rid)
        if not self._item(v).can_appeal:
            raise Conflict("this decision can no longer be appealed here", code="NoAppeal")
        appeal_id = self.requests.appeal(self.tenant, rid, actor="subject", channel=CHANNEL, reason=reason[:2000])
        now = self.clock.now()
        with self.db.session() as s:
            first = repo.requester(s, rid)
            email = first.email if first else ""
            if email:
                repo.add_requester(
                    s, Requester(request_id=appeal_id, email=email, locale=language, verified_at=now, created_at=now)
                )
                s.flush()
                self._queue(s, appeal_id, "received", None)
        return appeal_id

    # -- privacy --------------------------------------------------------------------------------------------

    def record_gpc(self, language: str) -> None:
        """`Sec-GPC: 1`: an opt-out of sale and sharing for this browser (CCPA regs §7025), recorded at once.

        No identity comes with the signal, so the case is anonymous ("gpc@browser.invalid" as its subject):
        it is the record that the signal was honoured. Opened, approved by policy and answered in one go."""
        with self.db.session() as s:
            rid = self.requests.open_in(
                s,
                tenant=self.tenant,
                type="opt_out",
                channel=CHANNEL,
                email="gpc@browser.invalid",
                actor="gpc",
                approved_by_policy=True,
            )
        self.requests.complete(self.tenant, rid, actor="gpc", note="Global Privacy Control signal")


def _appeal_of(s: Session, rid: str) -> str | None:
    for e in requests_repo.events(s, rid):
        if e.kind == "received" and e.data and e.data.get("appeal_of"):
            return str(e.data["appeal_of"])[:8].upper()
    return None


def _checked_email(email: str) -> str:
    email = (email or "").strip()
    if len(email) > 254 or not _EMAIL.fullmatch(email):
        raise InvalidInput("enter a valid e-mail address", code="InvalidEmail")
    return email


def _check_agent(agent: Agent) -> None:
    if not agent.name.strip():
        raise InvalidInput("enter the agent's name", code="AgentName")
    if agent.content_type not in DOCUMENT_TYPES or not agent.document or len(agent.document) > MAX_DOCUMENT:
        raise InvalidInput("the signed permission must be a PDF, PNG or JPEG of at most 5 MB", code="AgentDocument")


US_STATES = {
    "US-CA": "California",
    "US-CO": "Colorado",
    "US-CT": "Connecticut",
    "US-OR": "Oregon",
    "US-TX": "Texas",
    "US-UT": "Utah",
    "US-VA": "Virginia",
}


def places(center: PrivacyCenter, language: str) -> list[tuple[str, str]]:
    """Where a person may say they live: every country (named in their language) and the US states that have
    a rule of their own; (code, name), sorted by name. A place without a rule gets the default rule."""
    from babel import Locale

    try:
        names = Locale.parse(language).territories
    except (ValueError, TypeError):
        names = Locale.parse("en").territories
    countries = [(code, str(name)) for code, name in names.items() if len(code) == 2 and code.isalpha()]
    states = [
        (code, f"{names.get('US', 'US')}: {US_STATES.get(code, code)}")
        for code in sorted({p for r in center.requests.rules.rules.values() for p in r.jurisdictions})
        if code.startswith("US-")
    ]
    return sorted(countries + states, key=lambda item: item[1])
