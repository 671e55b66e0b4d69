"""HMAC signatures for links and opaque tokens: no domain, no I/O."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def sign(key: bytes, *parts: str) -> str:
    """A URL-safe HMAC-SHA256 over the parts, joined by a separator no part may contain."""
    msg = "\n".join(parts).encode("utf-8")
    return _b64(hmac.new(key, msg, hashlib.sha256).digest())


def verify(key: bytes, signature: str, *parts: str) -> bool:
    return hmac.compare_digest(sign(key, *parts), signature)


def derive_key(master: bytes, purpose: str) -> bytes:
    """One key per purpose, so a signature made for one use is worthless for another."""
    return hmac.new(master, purpose.encode("utf-8"), hashlib.sha256).digest()


def keyed_hash(key: bytes, value: str, length: int = 16) -> str:
    """A stable pseudonym for logs: the same subject gives the same value, which reveals nothing."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:length]


def standard_webhook_headers(secret: str, msg_id: str, now: datetime, body: bytes) -> dict[str, str]:
    """Standard Webhooks: HMAC-SHA256 over `id.timestamp.body` with the base64 key of `whsec_<key>`."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    ts = str(int(now.timestamp()))
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return {"webhook-id": msg_id, "webhook-timestamp": ts, "webhook-signature": "v1," + base64.b64encode(mac).decode()}


def verify_standard_webhook(
    secret: str, headers: Mapping[str, str], body: bytes, now: datetime, tolerance_seconds: int = 300
) -> str | None:
    """The `webhook-id` of a message whose Standard Webhooks signature (any of the space-separated `v1,` ones) is
    right and whose timestamp is within `tolerance_seconds` of `now`; else None. Header names in lower case."""
    msg_id, ts = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    if not msg_id or not ts.isdigit() or abs(int(now.timestamp()) - int(ts)) > tolerance_seconds:
        return None
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        return None
    want = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    for part in headers.get("webhook-signature", "").split():
        version, _, sig = part.partition(",")
        try:
            if version == "v1" and hmac.compare_digest(base64.b64decode(sig, validate=True), want):
                return msg_id
        except (binascii.Error, ValueError):
            continue
    return None
