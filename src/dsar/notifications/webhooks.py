"""Privacy events of the Buy with Prime GraphQL face, delivered to webhook subscriptions.

When a task of the `bwp` channel ends, the transaction that ends it also queues one event per subscription
of its tenant (created before the task ended) into the outbox, with a `webhook_events` row whose key
(subscription, task) makes it exactly once: the event exists if and only if the task ended, and is then
delivered at least once (retries, delivery log and redelivery are the outbox's). The task worker and the
cancellation of a deletion call `on_task_end`; they are the only places a task ends.

Privacy requests (cases) and subjects' preferences queue their own events through `queue` the same way, in the
transaction of the change, keyed (request id, timeline line) or (change id, 0); their `detail` says what
changed without personal data (`PRIVACY_REQUEST_<KIND>`, `PRIVACY_PREFERENCE_CHANGED`).

Envelope (EventBridge style, "thin event"):
`{"version": "0", "id", "detail-type", "source": "dsar.privacy", "account": <tenant>, "time", "region": "local",
"resources": ["businessProduct/<tenant>/<personalDataRetrievalTask|personalDataDeletionTask>/<taskId>"],
"detail": {}}`; signed with Standard Webhooks headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from dsar.db.engine import Database
from dsar.errors import InvalidInput
from dsar.kit.clock import Clock
from dsar.kit.ids import new_id
from dsar.notifications.models import PENDING, OutboxMessage, WebhookEvent, WebhookSubscription
from dsar.notifications.service import WEBHOOK
from dsar.tasks.repository import TASKS_FOR_JOINS as _T
from dsar.tasks.states import COMPLETED, DELETION, FAILED, RECTIFICATION, RETRIEVAL

TASK_EVENTS = (
    "PERSONAL_DATA_RETRIEVAL_TASK_COMPLETED",
    "PERSONAL_DATA_RETRIEVAL_TASK_FAILED",
    "PERSONAL_DATA_DELETION_TASK_COMPLETED",
    "PERSONAL_DATA_DELETION_TASK_FAILED",
    "PERSONAL_DATA_RECTIFICATION_TASK_COMPLETED",
    "PERSONAL_DATA_RECTIFICATION_TASK_FAILED",
)
# A privacy request's changes (one per kind of timeline line, dsar.requests.events) and a subject's preferences.
CASE_EVENTS = tuple(
    f"PRIVACY_REQUEST_{kind}"
    for kind in (
        "RECEIVED",
        "APPROVED",
        "DENIED",
        "WITHHELD",
        "EXTENDED",
        "ASSIGNED",
        "COMMENTED",
        "CANCELED",
        "RESPONDED",
        "TASK_STARTED",
        "TASK_ENDED",
        "RECTIFIED",
        "PREFERENCE_RECORDED",
        "REMINDER",
    )
)
PREFERENCE_CHANGED = "PRIVACY_PREFERENCE_CHANGED"
EVENTS = (*TASK_EVENTS, *CASE_EVENTS, PREFERENCE_CHANGED)
_KIND = {
    RETRIEVAL: ("PERSONAL_DATA_RETRIEVAL_TASK", "personalDataRetrievalTask"),
    DELETION: ("PERSONAL_DATA_DELETION_TASK", "personalDataDeletionTask"),
    RECTIFICATION: ("PERSONAL_DATA_RECTIFICATION_TASK", "personalDataRectificationTask"),
}


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An event of something other than a task's end (a privacy request's change, a preference's): queued once
    per subscription of its tenant that asked for its type and existed when it happened, keyed (key, seq)."""

    tenant: str
    key: str  # a request's id, a preference change's id
    seq: int
    event_type: str
    resource: str  # e.g. privacyRequest/<id>
    at: datetime
    detail: dict[str, Any]


# The task (its owner's table, read only) and its tenant's subscriptions, in one query.
_SUBSCRIBED = (
    select(WebhookSubscription.id, _T.c.kind, _T.c.status, _T.c.tenant, _T.c.finished_at)
    .join(_T, WebhookSubscription.tenant == _T.c.tenant)
    .where(
        _T.c.id == bindparam("task_id"),
        _T.c.channel == "bwp",
        _T.c.status.in_((COMPLETED, FAILED)),
        WebhookSubscription.created_at <= _T.c.finished_at,
    )
    .order_by(WebhookSubscription.id)
)
# The subscriptions of some tenants, for `queue` (a Core statement built once: it runs for every change of a
# case, twice per task through the API, and most tenants have no subscription).
_OF_TENANTS = (
    select(
        WebhookSubscription.id, WebhookSubscription.tenant, WebhookSubscription.events, WebhookSubscription.created_at
    )
    .where(WebhookSubscription.tenant.in_(bindparam("tenants", expanding=True)))
    .order_by(WebhookSubscription.id)
)


@dataclass(frozen=True)
class _Ended:
    id: str
    kind: str
    status: str
    tenant: str
    finished_at: datetime | None


@dataclass(frozen=True)
class WebhookView:
    id: str
    url: str
    events: list[str]
    secret: str


@dataclass(frozen=True)
class Endpoint:
    """A subscription as an admin sees it: never its secret; the URL without its query (it may hold a token)."""

    id: str
    tenant: str
    url: str
    events: list[str]
    created_at: datetime
    status: str  # its latest message's: PENDING, DELIVERED, DEAD; "" before any event
    messages: int


def shown_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "…" if parts.query else "", ""))


class Webhooks:
    def __init__(self, *, db: Database, clock: Clock, check_url: Callable[[str], str]) -> None:
        self.db, self.clock, self.check_url = db, clock, check_url

    def create(self, url: str, events: list[str], tenant: str = "default") -> WebhookView:
        unknown = sorted(set(events) - set(EVENTS))
        if unknown or not events:
            raise InvalidInput(
                f"Unknown event {unknown or events}: use one of {', '.join(EVENTS)}.", code="INVALID_EVENT"
            )
        self.check_url(url)
        view = WebhookView(
            new_id(), url, sorted(set(events)), "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
        )
        with self.db.session() as s:
            s.add(
                WebhookSubscription(
                    id=view.id,
                    tenant=tenant,
                    url=url,
                    events=view.events,
                    secret=view.secret,
                    created_at=self.clock.now(),
                )
            )
        return view

    def endpoints(self) -> list[Endpoint]:
        """Every subscription, oldest first, with the status of its latest message and how many it was sent."""
        with self.db.session(write=False) as s:
            rows = s.execute(select(OutboxMessage.app_id, func.count()).group_by(OutboxMessage.app_id)).all()
            counts: dict[str, int] = {app_id: n for app_id, n in rows}
            hooks = s.scalars(select(WebhookSubscription).order_by(WebhookSubscription.created_at)).all()
            out = []
            for h in hooks:
                last = s.scalars(
                    select(OutboxMessage.status)
                    .where(OutboxMessage.app_id == h.id)
                    .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
                    .limit(1)
                ).first()
                out.append(
                    Endpoint(
                        h.id, h.tenant, shown_url(h.url), list(h.events), h.created_at, last or "", counts.get(h.id, 0)
                    )
                )
            return out

    def on_task_end(self, s: Session, task_id: str) -> None:
        """Queue the task's event for each subscription of its tenant, in the transaction that ended it.
        One Core query (built once) finds both; subscriptions are loaded only when there are any (most
        tenants have none, and this runs at the end of every task)."""
        rows = s.connection().execute(_SUBSCRIBED, {"task_id": task_id}).all()
        for hook_id, kind, status, tenant, finished in rows:
            hook = s.get(WebhookSubscription, hook_id)
            if hook is not None:
                self._queue(s, hook, _Ended(task_id, kind, status, tenant, finished))

    def queue(self, s: Session, events: Sequence[Outgoing]) -> int:
        """Queue events in the caller's transaction (the one that made the change); how many messages."""
        if not events:
            return 0
        tenants = sorted({e.tenant for e in events})
        hooks = s.connection().execute(_OF_TENANTS, {"tenants": tenants}).all()
        if not hooks:  # most tenants have none
            return 0
        now = self.clock.now()
        n = 0
        for e in events:
            for hook_id, tenant, hook_events, created_at in hooks:
                if tenant != e.tenant or e.event_type not in hook_events or created_at > e.at:
                    continue
                mid = new_id()
                s.add(WebhookEvent(subscription_id=hook_id, task_id=e.key, seq=e.seq, message_id=mid))
                event = {
                    "version": "0",
                    "id": mid,
                    "detail-type": e.event_type,
                    "source": "dsar.privacy",
                    "account": e.tenant,
                    "time": e.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "region": "local",
                    "resources": [f"businessProduct/{e.tenant}/{e.resource}"],
                    "detail": e.detail,
                }
                s.add(_message(mid, hook_id, event, now))
                n += 1
        return n

    def _queue(self, s: Session, hook: WebhookSubscription, task: _Ended) -> None:
        now = self.clock.now()
        prefix, resource = _KIND.get(task.kind, _KIND[RETRIEVAL])
        event_type = f"{prefix}_{'COMPLETED' if task.status == COMPLETED else 'FAILED'}"
        if event_type not in hook.events:
            return
        mid = new_id()
        s.add(WebhookEvent(subscription_id=hook.id, task_id=task.id, message_id=mid))  # once per (hook, task)
        finished = task.finished_at or now
        event = {
            "version": "0",
            "id": mid,
            "detail-type": event_type,
            "source": "dsar.privacy",
            "account": task.tenant,
            "time": finished.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": "local",
            "resources": [f"businessProduct/{task.tenant}/{resource}/{task.id}"],
            "detail": {},
        }
        s.add(_message(mid, hook.id, event, now))


def _message(mid: str, hook_id: str, event: dict[str, Any], now: datetime) -> OutboxMessage:
    return OutboxMessage(
        id=mid,
        app_id=hook_id,
        type=WEBHOOK,
        fields={"event": event},
        status=PENDING,
        attempts=0,
        created_at=now,
        next_attempt_at=now,
    )
