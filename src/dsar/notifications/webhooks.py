"""Privacy events of the Buy with Prime GraphQL face, delivered to webhook subscriptions.

When a task of the `bwp` channel ends, the transaction that ends it also queues one event per subscription
of its tenant (created before the task ended) into the outbox, with a `webhook_events` row whose key
(subscription, task) makes it exactly once: the event exists if and only if the task ended, and is then
delivered at least once (retries, delivery log and redelivery are the outbox's). The task worker and the
cancellation of a deletion call `on_task_end`; they are the only places a task ends.

Envelope (EventBridge style, "thin event"):
`{"version": "0", "id", "detail-type", "source": "dsar.privacy", "account": <tenant>, "time", "region": "local",
"resources": ["businessProduct/<tenant>/<personalDataRetrievalTask|personalDataDeletionTask>/<taskId>"],
"detail": {}}`; signed with Standard Webhooks headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from dsar.db.engine import Database
from dsar.errors import InvalidInput
from dsar.kit.clock import Clock
from dsar.kit.ids import new_id
from dsar.notifications.models import PENDING, OutboxMessage, WebhookEvent, WebhookSubscription
from dsar.notifications.service import WEBHOOK
from dsar.tasks.repository import TASKS_FOR_JOINS as _T
from dsar.tasks.states import COMPLETED, DELETION, FAILED, RETRIEVAL

EVENTS = (
    "PERSONAL_DATA_RETRIEVAL_TASK_COMPLETED",
    "PERSONAL_DATA_RETRIEVAL_TASK_FAILED",
    "PERSONAL_DATA_DELETION_TASK_COMPLETED",
    "PERSONAL_DATA_DELETION_TASK_FAILED",
)
_KIND = {
    RETRIEVAL: ("PERSONAL_DATA_RETRIEVAL_TASK", "personalDataRetrievalTask"),
    DELETION: ("PERSONAL_DATA_DELETION_TASK", "personalDataDeletionTask"),
}


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

    def on_task_end(self, s: Session, task_id: str) -> None:
        """Queue the task's event for each subscription of its tenant, in the transaction that ended it.
        One Core query (built once) finds both; subscriptions are loaded only when there are any (most
        tenants have none, and this runs at the end of every task)."""
        rows = s.connection().execute(_SUBSCRIBED, {"task_id": task_id}).all()
        for hook_id, kind, status, tenant, finished in rows:
            hook = s.get(WebhookSubscription, hook_id)
            if hook is not None:
                self._queue(s, hook, _Ended(task_id, kind, status, tenant, finished))

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
        s.add(
            OutboxMessage(
                id=mid,
                app_id=hook.id,
                type=WEBHOOK,
                fields={"event": event},
                status=PENDING,
                attempts=0,
                created_at=now,
                next_attempt_at=now,
            )
        )
