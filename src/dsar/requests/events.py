"""A privacy request's changes as events for the company's systems (webhooks through the outbox).

Every line of a case's timeline is also an event: the composition root passes a sink (`on_events`) that queues
it for the tenant's webhook subscriptions in the transaction that wrote the line, so the event exists if and
only if the change does. An event carries the request's id, the line's number (`seq`: increasing per request,
the key that makes it exactly once per subscription) and a few safe facts: never a comment's text, a note,
or the values of a rectification (those stay in the timeline, read through the API with `privacy:manage`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from dsar.notifications.webhooks import PREFERENCE_CHANGED, Outgoing

__all__ = ["EVENT_KINDS", "CaseEvent", "EventSink", "PreferenceEvent", "PreferenceSink", "event_type"]

# The kinds of timeline lines, each the webhook event PRIVACY_REQUEST_<KIND>.
EVENT_KINDS = (
    "received",
    "approved",
    "denied",
    "withheld",
    "extended",
    "assigned",
    "commented",
    "canceled",
    "responded",
    "task_started",
    "task_ended",
    "rectified",
    "preference_recorded",
    "reminder",
)
# Facts of an event's data that may leave in a webhook (no free text, no personal data).
_SAFE = frozenset(
    {"type", "channel", "due_on", "rule", "from", "to", "basis", "law", "task_id", "status", "error", "days_left"}
)


def event_type(kind: str) -> str:
    return f"PRIVACY_REQUEST_{kind.upper()}"


@dataclass(frozen=True, slots=True)
class CaseEvent:
    tenant: str
    request_id: str
    seq: int
    kind: str
    at: datetime
    data: dict[str, Any]

    def detail(self) -> dict[str, Any]:
        """What a webhook tells: the request, the line and its safe facts (receivers read the rest by API)."""
        safe = {k: v for k, v in self.data.items() if k in _SAFE}
        return {"requestId": self.request_id, "event": self.kind, "sequence": self.seq, **safe}

    def outgoing(self) -> Outgoing:
        """The webhook event, keyed (request, line) so that each subscription gets it once."""
        resource = f"privacyRequest/{self.request_id}"
        return Outgoing(self.tenant, self.request_id, self.seq, event_type(self.kind), resource, self.at, self.detail())


@dataclass(frozen=True, slots=True)
class PreferenceEvent:
    """A subject's preference changed: who (a keyed hash), which, and whether it now applies."""

    tenant: str
    change_id: str
    subject_ref: str
    preference: str
    active: bool
    scope: str | None
    request_id: str | None
    at: datetime

    def outgoing(self) -> Outgoing:
        """The webhook event: who (the keyed hash), which preference, whether it applies; never the scope's text."""
        detail = {
            "subjectRef": self.subject_ref,
            "preference": self.preference,
            "active": self.active,
            "requestId": self.request_id,
        }
        resource = f"privacyPreference/{self.subject_ref}"
        return Outgoing(self.tenant, self.change_id, 0, PREFERENCE_CHANGED, resource, self.at, detail)


EventSink = Callable[[Session, Sequence[CaseEvent]], None]
PreferenceSink = Callable[[Session, PreferenceEvent], None]
