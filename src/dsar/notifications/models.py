"""The outbox (messages written in the same transaction as the change they announce), subscriptions,
the delivery log and the signing key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dsar.db.base import Base, UtcDateTime
from dsar.db.sealed import SealedJSON

PENDING = "PENDING"
DELIVERED = "DELIVERED"
DEAD = "DEAD"


class Subscription(Base):
    """An app's endpoint; Notifications wait until it visited the SubscribeURL of its SubscriptionConfirmation."""

    __tablename__ = "sns_subscriptions"

    app_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(2000))
    token: Mapped[str] = mapped_column(String(128), unique=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class OutboxMessage(Base):
    """One message to one endpoint; `id` is its SNS `MessageId` (receivers de-duplicate on it)."""

    __tablename__ = "notification_outbox"
    __table_args__ = (Index("ix_notification_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    app_id: Mapped[str] = mapped_column(String(36), index=True)
    type: Mapped[str] = mapped_column(String(32))  # SubscriptionConfirmation | Notification
    # The message's fields before signing; sealed at rest: a queued e-mail holds an address and its bodies.
    fields: Mapped[dict[str, Any]] = mapped_column(SealedJSON("notification_outbox.fields"))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(64), default=None)
    lease_expires: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)


class DeliveryAttempt(Base):
    """The delivery log: every attempt, its HTTP status or the class of its error."""

    __tablename__ = "notification_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(36), index=True)
    attempted_at: Mapped[datetime] = mapped_column(UtcDateTime())
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    error: Mapped[str | None] = mapped_column(String(200), default=None)


class SigningKey(Base):
    """The RSA key and self-signed certificate of SNS signatures, generated once and shared by replicas."""

    __tablename__ = "sns_signing_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    private_pem: Mapped[str] = mapped_column(Text)
    cert_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class WebhookSubscription(Base):
    """A receiver of privacy events of one tenant's (BwP GraphQL) tasks, signed with Standard Webhooks."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSON)
    secret: Mapped[str] = mapped_column(String(100))  # whsec_<base64>
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class WebhookEvent(Base):
    """An event already queued for a subscription (so each is queued exactly once): a task's end (`seq` 0), or
    a privacy request's change (`task_id` holds the request id, `seq` the timeline line's number) or a subject's
    preference change (`task_id` holds the change's id, `seq` 0)."""

    __tablename__ = "webhook_events"

    subscription_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, default=0, server_default="0")
    message_id: Mapped[str] = mapped_column(String(36))
