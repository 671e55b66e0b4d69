"""Privacy events of the Buy with Prime GraphQL face, delivered to webhook subscriptions.

A scanner (a background loop of the runner) finds tasks of the `bwp` channel that ended after a
subscription was created and queues one event per (subscription, task) into the outbox, together with a
`webhook_events` row in the same transaction, so each event is queued exactly once and delivered at
least once (retries, delivery log and redelivery are the outbox's). The task table is the durable
source: a task that ended is found by the scanner even if every process died right after it ended.

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

from sqlalchemy import Select, and_, select
from sqlalchemy.orm import Session

from dsar.db.engine import Database
from dsar.errors import InvalidInput
from dsar.kit.clock import Clock
from dsar.kit.ids import new_id
from dsar.notifications.models import PENDING, OutboxMessage, WebhookEvent, WebhookSubscription
from dsar.notifications.service import WEBHOOK
from dsar.tasks.models import COMPLETED, DELETION, FAILED, RETRIEVAL, PrivacyTask

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


@dataclass(frozen=True)
class WebhookView:
    id: str
    url: str
    events: list[str]
    secret: str


class Webhooks:
    def __init__(self, db: Database, clock: Clock, check_url: Callable[[str], str], batch: int = 100) -> None:
        self.db, self.clock, self.check_url, self.batch = db, clock, check_url, batch

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

    def scan(self, owner: str, stopping: Callable[[], bool]) -> bool:
        """One step of the runner's loop: queue the events of tasks that ended; True if it queued any."""
        with self.db.session(write=False) as s:  # look first: no write lock while there is nothing to do
            busy = [h.id for h in s.scalars(select(WebhookSubscription)) if s.scalar(self._ended(h).limit(1))]
        queued = 0
        for hook_id in busy:
            if stopping():
                break
            with self.db.session() as s:
                hook = s.get(WebhookSubscription, hook_id)
                if hook is not None:
                    queued += self._queue(s, hook)
        return queued > 0

    def _ended(self, hook: WebhookSubscription) -> Select[PrivacyTask]:
        """Tasks of the hook's tenant that ended after it was created and have no event for it yet."""
        seen = select(WebhookEvent.task_id).where(WebhookEvent.subscription_id == hook.id)
        return (
            select(PrivacyTask)
            .where(
                and_(
                    PrivacyTask.channel == "bwp",
                    PrivacyTask.tenant == hook.tenant,
                    PrivacyTask.status.in_((COMPLETED, FAILED)),
                    PrivacyTask.finished_at >= hook.created_at,
                    PrivacyTask.id.not_in(seen),
                )
            )
            .order_by(PrivacyTask.finished_at)
        )

    def _queue(self, s: Session, hook: WebhookSubscription) -> int:
        rows = s.scalars(self._ended(hook).limit(self.batch))
        now = self.clock.now()
        count = 0
        for task in list(rows):
            prefix, resource = _KIND.get(task.kind, _KIND[RETRIEVAL])
            event_type = f"{prefix}_{'COMPLETED' if task.status == COMPLETED else 'FAILED'}"
            mid = new_id()
            s.add(WebhookEvent(subscription_id=hook.id, task_id=task.id, message_id=mid))
            if event_type not in hook.events:
                continue  # remembered as seen, not sent
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
            count += 1
        return count
