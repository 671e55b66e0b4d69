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
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from sqlalchemy.orm import Session

from dsar import log
from dsar.auth.oidc import OidcClient, OidcError
from dsar.db.engine import Database
from dsar.errors import Conflict, DsarError, InvalidInput, NotFound, Unavailable
from dsar.kit.clock import Clock
from dsar.notifications.mail import Mailer
from dsar.requests import repository as requests_repo
from dsar.requests.service import Filter, PrivacyRequests
from dsar.storage.base import Storage
from dsar.tasks.records import OpenedTask
from dsar.tasks.service import PrivacyTasks
from dsar.tasks.states import DELETION, RETRIEVAL
from dsar.verification import codes
from dsar.verification import repository as repo
from dsar.verification.datapoints import Lookup, normalize
from dsar.verification.messages import Messages
from dsar.verification.models import Challenge, Requester
from dsar.verification.notices import Notices
from dsar.verification.settings import PrivacyCenterSettings
from dsar.verification.status import CHANNEL, TASK_TENANT, Following

_log = log.get("dsar.verification")
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


class PrivacyCenter(Following):
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
        self.notices = Notices(
            clock=clock,
            requests=requests,
            messages=messages,
            settings=settings,
            public_url=self.public_url,
            sender=sender,
            tenant=self.tenant,
        )
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

    def resend_code(self, cid: str, language: str) -> ChallengeView:
        """A new code for a check still waiting for one (the first was lost or expired), counted against the same
        hourly budget per address as the first; over budget, nothing is sent and the page reads the same. Tries
        already spent stay spent. A status check keeps no address (only its keyed hash): it starts again."""
        now = self.clock.now()
        with self.db.session() as s:
            c = self._get(s, cid, lock=True)
            view = self._view(s, c)
            if c.step != "code" or c.failed or c.verified_at is not None or not c.request_id:
                return view
            who = repo.requester(s, c.request_id)
            case = requests_repo.get(s, self.tenant, c.request_id)
            if who is None or case is None or case.status not in ("received", "in_progress"):
                return view
            code = codes.new_code()
            if repo.take_budget(s, c.subject_ref, now, self.s.codes_per_hour):
                c.code_hash = codes.code_hash(self.key, c.id, code)
                c.expires_at = now + timedelta(seconds=self.s.code_ttl_seconds)
            else:
                code = ""  # the code sent before stays the one that works
            email, rtype, purpose = who.email, case.type, c.purpose
            agent = Agent(who.agent_name or "", who.agent_email or "", b"", "") if purpose == "confirm" else None
            view = self._view(s, c)
        self._send_code(email, language, code, purpose, rtype, agent, cid)
        return view

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
            self.notices.queue(s, rid, "received")
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
        kept = timedelta(days=max(self.s.download_days, self.s.appeal_window_days))
        with self.db.session() as s:
            for who in repo.to_remind(s, now - window + timedelta(days=self.s.reminder_days)):
                self.notices.queue(s, who.request_id, "reminder", who=who)
                who.reminded_at = now
                done += 1
            documents = repo.expired_documents(s, now - kept)
            done += repo.delete_expired(s, now, now - kept)
        for rid, document in documents:  # an agent's permission goes with the address
            self.storage.delete(f"privacy-center/agents/{rid}/{document}")
        return done

    # -- e-mails about a case ---------------------------------------------------------------------------------

    def case_changed(self, s: Session, tenant: str, rid: str, kind: str, data: dict[str, Any]) -> None:
        """The requests' on_change hook, in the change's transaction: tell the person (when they came here)."""
        self.notices.case_changed(s, tenant, rid, kind, data)

    # -- privacy --------------------------------------------------------------------------------------------

    def record_gpc(self, session: str) -> str | None:
        """`Sec-GPC: 1` from a browser signed in to the status page: an opt-out of sale and sharing for the
        consumer we know (CCPA regs § 7025(c)(1)), recorded once as a case of theirs; its id, or None.

        An anonymous browser's signal opens no case: the web face marks the browser as opted out (a cookie) and
        § 7025(c)(1) lets a business leave an unidentified browser out of the § 7102 metrics, so a GET can no
        longer add cases to the legal record (docs/privacy-center.md)."""
        try:
            subject = self.session_subject(session)
        except NotFound:
            return None
        page = self.requests.page(self.tenant, Filter(subject_ref=subject, channel=CHANNEL), first=100)
        if any(v.type == "opt_out" and v.status in ("received", "in_progress", "completed") for v in page.items):
            return None  # opted out already (by GPC or the form)
        with self.db.session(write=False) as s:
            email = next((w.email for v in page.items if (w := repo.requester(s, v.id)) is not None), "")
        if not email:
            return None  # no address of theirs is kept any more: nothing to open the case with
        with self.db.session() as s:
            rid = self.requests.open_in(
                s,
                tenant=self.tenant,
                type="opt_out",
                channel=CHANNEL,
                email=email,
                actor="gpc",
                approved_by_policy=True,
            )
        self.requests.complete(self.tenant, rid, actor="gpc", note="Global Privacy Control signal")
        _log.info("privacy_center_gpc_recorded", request_id=rid)
        return rid


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
