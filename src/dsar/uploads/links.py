"""Signed PUT links for uploads: bound to one file id, its declared size and content type, and an expiry.

Storage without presigned PUTs (local files, memory): `{public_url}/uploads/{fileId}?expires=..&signature=..`,
an HMAC-SHA256 over ("PUT", file id, expires, size, content type) with a key of its own; dsar's `/uploads/`
route checks it. A storage adapter with `capabilities.presigned_put` (S3) answers with a presigned PUT whose
signed headers carry the same bounds, and the object store checks them.
"""

from __future__ import annotations

import enum
import math
import re
from typing import Protocol
from urllib.parse import quote, urlencode

from dsar.kit import signing
from dsar.kit.clock import Clock
from dsar.kit.ids import is_uuid
from dsar.storage.base import Storage

_EXPIRES = re.compile(r"[0-9]{1,12}")
_MAX_SIGNATURE_LENGTH = 128


class PutCheck(enum.Enum):
    VALID = "valid"
    EXPIRED = "expired"
    INVALID = "invalid"


class UploadLinks(Protocol):
    @property
    def checked_here(self) -> bool:
        """True: the links point at dsar's `/uploads/` route, which asks `check`; False: the object store takes
        the PUT and checks the link itself (dsar notices the file when it is there)."""
        ...

    def put_url(self, key: str, file_id: str, size: int, content_type: str, ttl_seconds: int) -> str:
        """An absolute URL to PUT exactly `size` bytes of `content_type` to, valid `ttl_seconds`."""
        ...

    def check(self, file_id: str, expires: str, signature: str, size: int, content_type: str) -> PutCheck:
        """The verdict on a PUT to dsar's `/uploads/` route (always INVALID unless `checked_here`)."""
        ...


class LocalUploadLinks:
    """Links to dsar's own `/uploads/{fileId}` route (storage without presigned PUTs)."""

    checked_here = True

    def __init__(self, *, public_url: str, key: bytes, clock: Clock) -> None:
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
    """Links from a storage adapter with `capabilities.presigned_put` (the object store checks size and type)."""

    checked_here = False

    def __init__(self, storage: Storage) -> None:
        if not storage.capabilities.presigned_put:
            raise ValueError(f"{storage!r} does not presign PUTs; use LocalUploadLinks.")
        self._storage = storage

    def put_url(self, key: str, file_id: str, size: int, content_type: str, ttl_seconds: int) -> str:
        return self._storage.signed_put_url(key, ttl_seconds, size=size, content_type=content_type)

    def check(self, file_id: str, expires: str, signature: str, size: int, content_type: str) -> PutCheck:
        """INVALID: these links go to the object store; a PUT to dsar's `/uploads/` route is not one of them."""
        return PutCheck.INVALID


__all__ = ["LocalUploadLinks", "PresignedUploadLinks", "PutCheck", "UploadLinks"]
