"""The mailbox of company services' late answers (`202`, then a POST to a signed callback URL).

`callback_url(source, reply)` is `<public url>/connectors/services/<source>/replies/<reply>?expires=..&signature=..`,
an HMAC of dsar's over the three, valid for `ttl_seconds`. `accept` is what the API's route calls: the link's
signature and expiry first, then the body's Standard Webhooks signature with the source's own secret (its
`webhook-id` must be the reply's idempotency key); only then is the body kept, in the `ReplyStore` (the storage
port, shared by the API and the workers), until the waiting connector `take`s it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol
from urllib.parse import quote, urlencode

from dsar.errors import InvalidInput, NotFound, Unauthenticated
from dsar.kit.signing import sign, verify, verify_standard_webhook

PREFIX = "service-replies"
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
MAX_REPLY = 1 << 20  # the API's body limit


class ReplyStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...

    def take(self, key: str) -> bytes | None:
        """The object and its removal, or None when there is none."""
        ...


class ServiceReplies:
    """Signed callback URLs out, verified answers in; the connectors' `Mailbox`."""

    def __init__(
        self,
        *,
        store: ReplyStore,
        key: bytes,
        public_url: str,
        secret_of: Callable[[str], str | None],
        now: Callable[[], datetime],
        ttl_seconds: int = 3600,
    ) -> None:
        self.store, self.key, self.public_url = store, key, public_url.rstrip("/")
        self.secret_of, self.now, self.ttl = secret_of, now, ttl_seconds

    def callback_url(self, source: str, reply: str) -> str:
        expires = str(int((self.now() + timedelta(seconds=self.ttl)).timestamp()))
        query = urlencode({"expires": expires, "signature": sign(self.key, source, reply, expires)})
        return f"{self.public_url}/connectors/services/{quote(source)}/replies/{quote(reply)}?{query}"

    def take(self, source: str, reply: str) -> bytes | None:
        return self.store.take(f"{PREFIX}/{source}/{reply}.json")

    def accept(
        self, source: str, reply: str, expires: str, signature: str, headers: dict[str, str], body: bytes
    ) -> None:
        """Keep a posted answer; `NotFound` for a wrong or expired link (alike), `Unauthenticated` for a body
        not signed with the source's secret, `InvalidInput` for one that is too large."""
        ok_names = bool(_NAME.match(source) and _NAME.match(reply))
        if not (ok_names and expires.isdigit() and verify(self.key, signature, source, reply, expires)):
            raise NotFound("No such reply link.", code="NOT_FOUND")
        if int(expires) < self.now().timestamp():
            raise NotFound("No such reply link.", code="NOT_FOUND")
        secret = self.secret_of(source)
        lower = {k.lower(): v for k, v in headers.items()}
        if not secret or verify_standard_webhook(secret, lower, body, self.now()) != reply:
            raise Unauthenticated("The reply is not signed with the source's secret.", code="BAD_SIGNATURE")
        if len(body) > MAX_REPLY:
            raise InvalidInput("The reply is larger than 1 MiB.", code="TOO_LARGE")
        self.store.put(f"{PREFIX}/{source}/{reply}.json", body)


class MemoryReplyStore:
    """The in-process store (one process serves the API and runs the engine: tests, `dsar serve` alone)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, bytes] = {}

    def put(self, key: str, data: bytes) -> None:
        with self._lock:
            self._items[key] = data

    def take(self, key: str) -> bytes | None:
        with self._lock:
            return self._items.pop(key, None)
