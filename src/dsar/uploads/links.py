"""Signed PUT links for uploads: bound to one file id, its declared size and content type, and an expiry.

Local storage: `{public_url}/uploads/{fileId}?expires=..&signature=..`, an HMAC-SHA256 over
("PUT", file id, expires, size, content type) with a key of its own; dsar's `/uploads/` route checks it.
An object store (the S3 adapter) answers with a presigned PUT whose signed headers carry the same bounds.
"""

from __future__ import annotations

import enum
import math
import re
from typing import Protocol, runtime_checkable
from urllib.parse import quote, urlencode

from dsar.kit import signing
from dsar.kit.clock import Clock
from dsar.kit.ids import is_uuid

_EXPIRES = re.compile(r"[0-9]{1,12}")
_MAX_SIGNATURE_LENGTH = 128


class PutCheck(enum.Enum):
    VALID = "valid"
    EXPIRED = "expired"
    INVALID = "invalid"


class UploadLinks(Protocol):
    def put_url(self, key: str, file_id: str, size: int, content_type: str, ttl_seconds: int) -> str:
        """An absolute URL to PUT exactly `size` bytes of `content_type` to, valid `ttl_seconds`."""
        ...


@runtime_checkable
class PresignsPut(Protocol):
    """A storage adapter that hands out presigned PUT URLs itself (S3: Content-Length and Content-Type signed)."""

    def signed_put_url(self, key: str, ttl_seconds: int, *, size: int, content_type: str) -> str: ...


class LocalUploadLinks:
    """Links to dsar's own `/uploads/{fileId}` route (local storage)."""

    def __init__(self, public_url: str, key: bytes, clock: Clock) -> None:
        if not key:
            raise ValueError("LocalUploadLinks needs a non-empty signing key.")
        self.public_url = public_url.rstrip("/")
        self._key, self._clock = key, clock

    def _sign(self, file_id: str, expires: str, size: int, content_type: str) -> str:
        return signing.sign(self._key, "PUT", file_id, expires, str(size), content_type)

    def put_url(self, key: str, file_id: str, size: int, content_type: str, ttl_seconds: int) -> str:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive.")
        expires = str(math.floor(self._clock.now().timestamp()) + ttl_seconds)
        query = {"expires": expires, "signature": self._sign(file_id, expires, size, content_type)}
        return f"{self.public_url}/uploads/{file_id}?{urlencode(query, quote_via=quote)}"

    def check(self, file_id: str, expires: str, signature: str, size: int, content_type: str) -> PutCheck:
        """Signature first (constant time), then expiry; the size and type come from the upload's row."""
        if not signature or len(signature) > _MAX_SIGNATURE_LENGTH or not signature.isascii():
            return PutCheck.INVALID
        if not _EXPIRES.fullmatch(expires) or not is_uuid(file_id):
            return PutCheck.INVALID
        if not signing.verify(self._key, signature, "PUT", file_id, expires, str(size), content_type):
            return PutCheck.INVALID
        if self._clock.now().timestamp() > int(expires):
            return PutCheck.EXPIRED
        return PutCheck.VALID


class PresignedUploadLinks:
    """Links from a storage adapter that presigns PUTs (the object store checks size and type itself)."""

    def __init__(self, storage: PresignsPut) -> None:
        self._storage = storage

    def put_url(self, key: str, file_id: str, size: int, content_type: str, ttl_seconds: int) -> str:
        return self._storage.signed_put_url(key, ttl_seconds, size=size, content_type=content_type)


__all__ = ["LocalUploadLinks", "PresignedUploadLinks", "PresignsPut", "PutCheck", "UploadLinks"]
