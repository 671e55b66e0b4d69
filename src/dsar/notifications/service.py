"""SNS-style notifications through a durable outbox.

A message is a row of `notification_outbox`, added in the same transaction as the change it announces
(`publish`, `subscribe` take the caller's session). A background loop of the runner claims due rows with
a lease, signs and POSTs them, logs every attempt and retries failures with exponential backoff and
jitter until `give_up` after the message was written. Delivery is at least once: a crash between the
POST and the commit sends the message again, with the same `MessageId`. Notifications to an endpoint wait
until it confirmed its subscription (SubscriptionConfirmation first, as SNS).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dsar import log
from dsar.db.engine import Database
from dsar.db.lease import Lease
from dsar.errors import NotFound
from dsar.kit.clock import Clock
from dsar.kit.ids import new_id, new_secret
from dsar.kit.signing import standard_webhook_headers
from dsar.notifications import sns
from dsar.notifications.addresses import Transport, pinned_transport
from dsar.notifications.email import EMAIL, build_message, scrubbed
from dsar.notifications.mail import Mailer
from dsar.notifications.models import (
    DEAD,
    DELIVERED,
    PENDING,
    DeliveryAttempt,
    OutboxMessage,
    SigningKey,
    Subscription,
    WebhookSubscription,
)

_log = log.get("dsar.notifications")

# The outbox's lease: a pending message is claimable once due, and a Notification only once its endpoint
# confirmed the subscription. Delivery attempts are counted by `attempt`, not by the claim.
_CONFIRMED = select(Subscription.app_id).where(Subscription.confirmed_at.is_not(None))
_LEASE = Lease(
    OutboxMessage.__table__,  # type: ignore[arg-type]
    due="next_attempt_at",
    claimable=(OutboxMessage.status == PENDING)
    & or_(OutboxMessage.type != "Notification", OutboxMessage.app_id.in_(_CONFIRMED)),
)
_CANDIDATES = _LEASE.candidates().order_by(OutboxMessage.next_attempt_at).limit(bindparam("limit"))
KEY_ID = "dsar-sns-1"
CERT_PATH = "/notifications/sns/SimpleNotificationService-{key_id}.pem"
CONFIRM_PATH = "/notifications/sns/confirm"
UNSUBSCRIBE_PATH = "/notifications/sns/unsubscribe"

DELIVERY_BATCH = 16  # messages leased per step of a runner's delivery loop
DELIVERY_THREADS = 8  # of which delivered at once (each attempt has its own timeout, well within the lease)
WEBHOOK = "Webhook"  # outbox type of privacy events (Standard Webhooks); `app_id` holds the subscription id


def http_transport(timeout: float, allow_private: bool = False, ca_bundle: Path | None = None) -> Transport:
    """POSTs to the address the URL's host resolves to now, checked (notifications.addresses); https
    certificates are checked against `ca_bundle`'s authorities when given."""
    return pinned_transport(timeout, allow_private, ca_bundle=ca_bundle)


def timestamp(when: datetime) -> str:
    """SNS's form: 2023-08-08T00:54:06.655Z."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class Delivery:
    attempted_at: datetime
    status_code: int | None
    error: str | None


class Notifications:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        public_url: str,
        signature_version: str = "1",
        backoff_seconds: float = 30.0,
        max_backoff_seconds: float = 3600.0,
        give_up: timedelta = timedelta(hours=72),
        lease: timedelta = timedelta(seconds=60),
        transport: Transport | None = None,
        mailer: Mailer | None = None,
    ) -> None:
        self.db, self.clock = db, clock
        self.public_url = public_url.rstrip("/")
        self.version = signature_version
        self.backoff, self.max_backoff, self.give_up, self.lease = (
            backoff_seconds,
            max_backoff_seconds,
            give_up,
            lease,
        )
        self.transport = transport or http_transport(10.0)
        self.mailer = mailer  # the e-mail channel (`notifications.email`); None: e-mails wait
        self._key: SigningKey | None = None

    # -- addresses -------------------------------------------------------------------------------------
    def topic_arn(self, app_id: str) -> str:
        return f"arn:dsar:sns:local:000000000000:portability-{app_id}"

    def cert_url(self) -> str:
        return self.public_url + CERT_PATH.format(key_id=KEY_ID)

    # -- the signing key -------------------------------------------------------------------------------
    def signing_key(self) -> SigningKey:
        """The key pair, generated on first use and kept in the state database (shared by all replicas)."""
        if self._key is not None:
            return self._key
        with self.db.session(write=False) as s:
            key = s.get(SigningKey, KEY_ID)
        if key is None:
            private_pem, cert_pem = sns.new_key("dsar notifications", self.clock.now())
            try:
                with self.db.session() as s:
                    s.add(
                        SigningKey(id=KEY_ID, private_pem=private_pem, cert_pem=cert_pem, created_at=self.clock.now())
                    )
            except IntegrityError:
                pass  # another replica made it first: use theirs
            with self.db.session(write=False) as s:
                key = s.get(SigningKey, KEY_ID)
        assert key is not None
        self._key = key
        return key

    # -- writing messages (in the caller's transaction) ------------------------------------------------
    def subscribe(self, s: Session, app_id: str, endpoint: str) -> None:
        """Subscribe the endpoint and queue its SubscriptionConfirmation."""
        now = self.clock.now()
        token = new_secret(48)
        s.add(Subscription(app_id=app_id, endpoint=endpoint, token=token, confirmed_at=None, created_at=now))
        arn = self.topic_arn(app_id)
        self._add(
            s,
            app_id,
            "SubscriptionConfirmation",
            {
                "Token": token,
                "TopicArn": arn,
                "Message": f"You have chosen to subscribe to the topic {arn}.\n"
                "To confirm the subscription, visit the SubscribeURL included in this message.",
                "SubscribeURL": f"{self.public_url}{CONFIRM_PATH}?Token={token}",
            },
            now,
        )

    def publish(self, s: Session, app_id: str, subject: str, message: dict[str, Any]) -> str:
        """Queue a Notification; its MessageId."""
        now = self.clock.now()
        sub = s.get(Subscription, app_id)
        token = sub.token if sub else ""
        return self._add(
            s,
            app_id,
            "Notification",
            {
                "TopicArn": self.topic_arn(app_id),
                "Subject": subject,
                "Message": json.dumps(message, separators=(",", ": ")),  # as the documented example
                "UnsubscribeURL": f"{self.public_url}{UNSUBSCRIBE_PATH}?Token={token}",
            },
            now,
        )

    def _add(self, s: Session, app_id: str, type_: str, fields: dict[str, Any], now: datetime) -> str:
        mid = new_id()
        body = {"Type": type_, "MessageId": mid, **fields, "Timestamp": timestamp(now)}
        s.add(
            OutboxMessage(
                id=mid,
                app_id=app_id,
                type=type_,
                fields=body,
                status=PENDING,
                attempts=0,
                created_at=now,
                next_attempt_at=now,
            )
        )
        return mid

    # -- the receiving side of the handshake -----------------------------------------------------------
    def confirm(self, token: str) -> str:
        """The SubscribeURL was visited: Notifications start flowing. The subscription's ARN."""
        now = self.clock.now()
        with self.db.session() as s:
            sub = s.scalar(select(Subscription).where(Subscription.token == token))
            if sub is None:
                raise NotFound("Unknown subscription token.")
            if sub.confirmed_at is None:
                sub.confirmed_at = now
            return f"{self.topic_arn(sub.app_id)}:{sub.app_id}"

    def unsubscribe(self, token: str) -> None:
        """Notifications wait (none is dropped) until the endpoint visits its SubscribeURL again."""
        with self.db.session() as s:
            sub = s.scalar(select(Subscription).where(Subscription.token == token))
            if sub is None:
                raise NotFound("Unknown subscription token.")
            sub.confirmed_at = None

    # -- delivery ------------------------------------------------------------------------------------
    def signed(self, fields: dict[str, Any]) -> dict[str, Any]:
        key = self.signing_key()
        msg = dict(fields)
        msg["SignatureVersion"] = self.version
        msg["Signature"] = sns.sign(msg, key.private_pem, self.version)
        msg["SigningCertURL"] = self.cert_url()
        return msg

    def claim(self, owner: str, limit: int = 1) -> list[str]:
        """Lease up to `limit` due messages (oldest due first); the ids this owner now holds."""
        now = self.clock.now()
        with self.db.session(write=False) as s:  # look first: an idle loop takes no write lock
            ids = list(s.connection().scalars(_CANDIDATES, {"now": now, "limit": limit}))
        if not ids:
            return []
        with self.db.session() as s:
            return [str(i) for i in _LEASE.claim_keys(s.connection(), ids, owner, now, self.lease)]

    def deliver_due(self, owner: str, stopping: Callable[[], bool]) -> bool:
        """One step of the runner's loop: deliver a batch of due messages, in parallel (a slow endpoint
        does not hold up the others); True if there were any."""
        if stopping():
            return False
        ids = self.claim(owner, DELIVERY_BATCH)
        if len(ids) == 1:
            self.attempt(ids[0], owner)
        elif ids:
            with ThreadPoolExecutor(
                max_workers=min(DELIVERY_THREADS, len(ids)), thread_name_prefix="dsar-notify"
            ) as pool:
                list(pool.map(lambda mid: self.attempt(mid, owner), ids))
        return bool(ids)

    def attempt(self, mid: str, owner: str) -> bool:
        with self.db.session(write=False) as s:
            row = s.get(OutboxMessage, mid)
            if row is None or row.lease_owner != owner:
                return False
            fields, created, attempts, kind = dict(row.fields), row.created_at, row.attempts, row.type
            app_id = row.app_id
        if kind == EMAIL:
            return self._attempt_email(mid, owner, fields, created, attempts)
        with self.db.session(write=False) as s:
            endpoint: str | None = None
            secret = ""
            if kind == WEBHOOK:
                hook = s.get(WebhookSubscription, app_id)
                if hook is not None:
                    endpoint, secret = hook.url, hook.secret
            else:
                sub = s.get(Subscription, app_id)
                endpoint = sub.endpoint if sub is not None else None
        if endpoint is None:  # its subscription was removed: nothing to deliver to
            with self.db.session() as s:
                _LEASE.finish(s.connection(), mid, owner, {"status": DEAD})
            return False
        if kind == WEBHOOK:
            body = json.dumps(fields["event"], separators=(",", ":")).encode()
            headers = {"content-type": "application/json", "user-agent": "dsar-webhooks/1.0"}
            headers.update(standard_webhook_headers(secret, mid, self.clock.now(), body))
        else:
            msg = self.signed(fields)
            body = json.dumps(msg).encode()
            headers = {
                "content-type": "text/plain; charset=UTF-8",
                "x-amz-sns-message-type": msg["Type"],
                "x-amz-sns-message-id": mid,
                "x-amz-sns-topic-arn": msg["TopicArn"],
                "user-agent": "dsar-notifications/1.0",
            }
        code: int | None = None
        error: str | None = None
        try:
            code = self.transport(endpoint, body, headers)
        except Exception as exc:
            error = type(exc).__name__
        now = self.clock.now()
        ok = code is not None and 200 <= code < 300
        with self.db.session() as s:
            s.add(DeliveryAttempt(message_id=mid, attempted_at=now, status_code=code, error=error))
            values: dict[str, Any] = {"attempts": attempts + 1}
            if ok:
                values.update(status=DELIVERED, delivered_at=now)
            elif now - created >= self.give_up:
                values.update(status=DEAD)
            else:
                values.update(next_attempt_at=now + self.delay(attempts + 1))
            s.flush()
            _LEASE.finish(s.connection(), mid, owner, values)
        _log.info("notification_attempt", message_id=mid, status_code=code, error=error, delivered=ok)
        return ok

    def _attempt_email(self, mid: str, owner: str, fields: dict[str, Any], created: datetime, attempts: int) -> bool:
        error: str | None = None
        if fields.get("scrubbed") or self.mailer is None:
            error = "NotSendable" if fields.get("scrubbed") else "NoMailer"
        else:
            try:
                self.mailer.send(build_message(mid, fields))
            except Exception as exc:
                error = type(exc).__name__
        now = self.clock.now()
        ok = error is None
        with self.db.session() as s:
            s.add(DeliveryAttempt(message_id=mid, attempted_at=now, status_code=250 if ok else None, error=error))
            values: dict[str, Any] = {"attempts": attempts + 1}
            if ok:
                values.update(status=DELIVERED, delivered_at=now, fields=scrubbed(fields))
            elif now - created >= self.give_up or fields.get("scrubbed"):
                values.update(status=DEAD, fields=scrubbed(fields))
            else:
                values.update(next_attempt_at=now + self.delay(attempts + 1))
            s.flush()
            _LEASE.finish(s.connection(), mid, owner, values)
        _log.info("notification_attempt", message_id=mid, channel="email", error=error, delivered=ok)
        return ok

    def delay(self, attempts: int) -> timedelta:
        """Exponential backoff with "equal jitter": half the capped delay, plus up to the other half at random."""
        capped = min(self.max_backoff, self.backoff * 2 ** min(attempts - 1, 30))
        return timedelta(seconds=capped / 2 + random.uniform(0, capped / 2))

    # -- operations ------------------------------------------------------------------------------------
    def redeliver(self, mid: str) -> None:
        """Send a message again now (delivered or dead ones too); receivers de-duplicate by MessageId."""
        now = self.clock.now()
        with self.db.session() as s:
            res = s.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == mid)
                .values(status=PENDING, next_attempt_at=now, lease_owner=None, lease_expires=None, created_at=now)
            )
            if res.rowcount != 1:  # type: ignore[attr-defined]
                raise NotFound(f"No notification {mid}.")

    def deliveries(self, mid: str) -> list[Delivery]:
        with self.db.session(write=False) as s:
            rows = s.scalars(
                select(DeliveryAttempt).where(DeliveryAttempt.message_id == mid).order_by(DeliveryAttempt.id)
            )
            return [Delivery(r.attempted_at, r.status_code, r.error) for r in rows]

    def status(self, mid: str) -> tuple[str, int]:
        with self.db.session(write=False) as s:
            row = s.get(OutboxMessage, mid)
            if row is None:
                raise NotFound(f"No notification {mid}.")
            return row.status, row.attempts

    def messages(self, app_id: str | None = None) -> list[OutboxMessage]:
        with self.db.session(write=False) as s:
            q = select(OutboxMessage).order_by(OutboxMessage.created_at, OutboxMessage.id)
            if app_id is not None:
                q = q.where(OutboxMessage.app_id == app_id)
            return list(s.scalars(q))


__all__ = ["DEAD", "DELIVERED", "PENDING", "Notifications", "Transport", "http_transport", "timestamp"]
