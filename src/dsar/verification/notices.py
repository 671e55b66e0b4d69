"""What the privacy center tells a person about their case, by e-mail through the outbox: written in the
transaction of the change (`case_changed`, the requests' `on_change` hook), in the person's language."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from dsar.kit.clock import Clock
from dsar.notifications.email import queue_email
from dsar.requests import repository as requests_repo
from dsar.requests.service import PrivacyRequests
from dsar.verification import repository as repo
from dsar.verification.messages import Messages
from dsar.verification.models import Requester
from dsar.verification.settings import PrivacyCenterSettings


class Notices:
    def __init__(
        self,
        *,
        clock: Clock,
        requests: PrivacyRequests,
        messages: Messages,
        settings: PrivacyCenterSettings,
        public_url: str,
        sender: str,
        tenant: str,
    ) -> None:
        self.clock, self.requests, self.messages, self.s = clock, requests, messages, settings
        self.public_url, self.sender, self.tenant = public_url, sender, tenant

    def case_changed(self, s: Session, tenant: str, rid: str, kind: str, data: dict[str, Any]) -> None:
        """The requests' on_change hook, in the change's transaction: tell the person (when they came here)."""
        if tenant != self.tenant or kind not in ("extended", "denied", "responded", "canceled"):
            return
        who = repo.requester(s, rid)
        if who is None:
            return
        if kind in ("denied", "responded", "canceled"):
            who.ended_at = self.clock.now()  # the address is kept for the download or an appeal, then forgotten
        if kind == "canceled":
            return
        if kind == "responded":
            who.completed_at = self.clock.now()
            kind = "completed"
        self.queue(s, rid, kind, who=who, data=data)

    def queue(
        self,
        s: Session,
        rid: str,
        kind: str,
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
            ctx.update(due=row.due_on, appeal_of=appeal_of(s, rid))
        elif kind == "extended":
            ctx.update(due=row.due_on, reason=data.get("reason") or row.extension_reason or "")
        elif kind == "denied":
            until = self.appeal_until(row.rule, row.decided_at or self.clock.now(), rid, s)
            ctx.update(
                basis=data.get("basis") or row.decision_basis or "",
                # the row may be the one the change loaded before its UPDATE: the event's data is the decision
                law=data.get("law") or row.decision_law or "",
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

    def appeal_until(self, rule_id: str, decided: datetime, rid: str, s: Session) -> date | None:
        rule = self.requests.rules.rule(rule_id)
        if rule.appeal_respond is None or appeal_of(s, rid):
            return None  # no right of appeal there (or this is the appeal)
        return (decided + timedelta(days=self.s.appeal_window_days)).date()


def appeal_of(s: Session, rid: str) -> str | None:
    """The short reference of the request this one appeals, if it is an appeal."""
    for e in requests_repo.events(s, rid):
        if e.kind == "received" and e.data and e.data.get("appeal_of"):
            return str(e.data["appeal_of"])[:8].upper()
    return None
