"""dsar's own signed GET links, `{public_url}/files/{key}?expires=..&signature=..[&filename=..]`.

An HMAC-SHA256 over ("GET", key, expires, filename or ""), with the storage's signing key. The adapters whose
links point at dsar's `/files/` route (local files, memory) sign with `signed_link` and judge a request with
`check_link`; the route itself only parses the query, calls the adapter and translates the verdict.
"""

from __future__ import annotations

import enum
import math
import re
from urllib.parse import quote, urlencode

from dsar.kit import signing
from dsar.kit.clock import Clock
from dsar.storage.base import validate_filename, validate_key

_EXPIRES = re.compile(r"[0-9]{1,12}")
_MAX_SIGNATURE_LENGTH = 128


class LinkCheck(enum.Enum):
    """The verdict on a signed link: valid, genuine but expired, or not issued by us."""

    VALID = "valid"
    EXPIRED = "expired"
    INVALID = "invalid"


def _sign(signing_key: bytes, key: str, expires: str, filename: str | None) -> str:
    return signing.sign(signing_key, "GET", key, expires, filename or "")


def signed_link(
    public_url: str, signing_key: bytes, clock: Clock, key: str, ttl_seconds: int, filename: str | None
) -> str:
    """A GET link to `/files/{key}` that expires ttl_seconds from now (by `clock`)."""
    validate_key(key)
    if ttl_seconds <= 0:
        raise ValueError("ttl_seconds must be positive.")
    if filename is not None:
        validate_filename(filename)
    expires = str(math.floor(clock.now().timestamp()) + ttl_seconds)
    query = {"expires": expires, "signature": _sign(signing_key, key, expires, filename)}
    if filename:
        query["filename"] = filename
    return f"{public_url}/files/{key}?{urlencode(query, quote_via=quote)}"


def check_link(
    signing_key: bytes, clock: Clock, key: str, expires: int | str, signature: str, filename: str | None
) -> LinkCheck:
    """Check the signature (constant time) first, then the expiry; touches no object."""
    expires_text = str(expires) if isinstance(expires, int) else expires
    filename = filename or None
    if not signature or len(signature) > _MAX_SIGNATURE_LENGTH or not signature.isascii():
        return LinkCheck.INVALID
    if not _EXPIRES.fullmatch(expires_text):
        return LinkCheck.INVALID
    try:
        validate_key(key)
        if filename is not None:
            validate_filename(filename)
    except ValueError:
        return LinkCheck.INVALID
    if not signing.verify(signing_key, signature, "GET", key, expires_text, filename or ""):
        return LinkCheck.INVALID
    if clock.now().timestamp() > int(expires_text):
        return LinkCheck.EXPIRED
    return LinkCheck.VALID


__all__ = ["LinkCheck", "check_link", "signed_link"]
