"""HMAC signatures for links and opaque tokens: no domain, no I/O."""

from __future__ import annotations

import base64
import hashlib
import hmac


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
