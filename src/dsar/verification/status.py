"""The status page's side of the privacy center: a person who verified their address again sees their requests,
downloads a completed archive, cancels a request while nothing has started, and appeals a denial."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from dsar.db.engine import Database
from dsar.errors import Conflict, NotFound
from dsar.kit.clock import Clock
from dsar.requests import repository as requests_repo
from dsar.requests.repository import DENIED
from dsar.requests.service import Filter, PrivacyRequests, RequestView
from dsar.storage.base import Storage
from dsar.tasks.service import PrivacyTasks
from dsar.tasks.states import COMPLETED, RETRIEVAL
from dsar.verification import repository as repo
from dsar.verification.models import Requester
from dsar.verification.notices import Notices, appeal_of
from dsar.verification.settings import PrivacyCenterSettings

CHANNEL = "privacy_center"
TASK_TENANT = "privacy-center"  # the engine tasks of the center's cases (no API client sees them)


@dataclass(frozen=True)
class StatusItem:
    request: RequestView
    can_cancel: bool
    can_appeal: bool
    appeal_until: date | None
    download_url: str | None
    download_until: date | None
    appeal_of: str | None = None  # the short reference of the denied request this one appeals


class Following:
    """Part of `PrivacyCenter` (which sets these attributes)."""

    db: Database
    clock: Clock
    requests: PrivacyRequests
    storage: Storage
    s: PrivacyCenterSettings
    tenant: str
    link_ttl: int
    notices: Notices
    tasks: PrivacyTasks | None

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
            until = (
                self.notices.appeal_until(v.rule, v.decided_at, v.id, s)
                if v.status == DENIED and v.decided_at
                else None
            )
            appeal_ids = [
                str((e.data or {}).get("appeal_id", ""))
                for e in self.requests.get(self.tenant, v.id).timeline
                if e.kind == "appealed"
            ]
            # an appeal the person withdrew no longer uses up the right: they may appeal again within the window
            appealed = any(
                (a := requests_repo.get(s, self.tenant, aid)) is None or a.status != "canceled" for aid in appeal_ids
            )
            of = appeal_of(s, v.id)
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
            appeal_of=of,
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
                self.notices.queue(s, appeal_id, "received")
        return appeal_id
