"""The storage port: where result archives live and how a caller gets a short-lived link to one."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol, runtime_checkable

if TYPE_CHECKING:
    from dsar.storage.links import LinkCheck
from dsar.errors import DsarError, Unavailable

MAX_KEY_LENGTH = 1024
MAX_SEGMENT_LENGTH = 255
MAX_FILENAME_LENGTH = 255

# A segment never starts with a dot: that rules out `.` and `..` and reserves dot-names for temp files.
_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

S3_EXTRA_HINT = 'The S3 storage adapter is not installed: it comes with `pip install "dsar[s3]"`.'


@dataclass(frozen=True, slots=True)
class StoredObject:
    """What `put_stream` wrote: the key, its size in bytes and the SHA-256 of its content (hex)."""

    key: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class ListedObject:
    """One object of a listing: its key and when its last write completed (UTC; S3 keeps whole seconds)."""

    key: str
    modified: datetime


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What an adapter can do beyond the common port: faces and the composition root branch on these flags,
    never on the adapter's class."""

    presigned_put: bool = False
    """`signed_put_url` gives links the object store takes PUTs on itself, checking the signed size and type;
    without it, uploads go through dsar's own `/uploads/` route."""
    own_download_route: bool = False
    """`signed_url` links point at dsar's own `/files/` route, which judges them with `check_link` and serves
    the object (`local_file`, else `open`); without it, the links go to the object store."""


@dataclass(frozen=True, slots=True)
class LocalFile:
    """An object kept as a regular file on this machine, and its `os.stat` (size, modification time)."""

    path: Path
    stat: os.stat_result


def validate_key(key: str) -> str:
    """Return the key if it is a safe relative path of `[A-Za-z0-9._-]` segments; else ValueError."""
    if not key:
        raise ValueError("Invalid storage key: it is empty.")
    if len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"Invalid storage key: longer than {MAX_KEY_LENGTH} characters.")
    if "\\" in key:
        raise ValueError(f"Invalid storage key {key!r}: backslashes are not allowed.")
    if key.startswith("/"):
        raise ValueError(f"Invalid storage key {key!r}: it must be a relative path.")
    for segment in key.split("/"):
        if not segment:
            raise ValueError(f"Invalid storage key {key!r}: empty path segment.")
        if segment in (".", ".."):
            raise ValueError(f"Invalid storage key {key!r}: '.' and '..' segments are not allowed.")
        if len(segment) > MAX_SEGMENT_LENGTH:
            raise ValueError(f"Invalid storage key: a segment is longer than {MAX_SEGMENT_LENGTH} characters.")
        if not _SEGMENT.fullmatch(segment):
            raise ValueError(
                f"Invalid storage key {key!r}: segments use only A-Z a-z 0-9 . _ - and do not start with a dot."
            )
    return key


def validate_filename(filename: str) -> str:
    """Return a download file name if it is 1-255 characters without controls or path separators."""
    if not filename or len(filename) > MAX_FILENAME_LENGTH:
        raise ValueError(f"Invalid download file name: it must have 1 to {MAX_FILENAME_LENGTH} characters.")
    if _CONTROL.search(filename) or "/" in filename or "\\" in filename:
        raise ValueError("Invalid download file name: no control characters, slashes or backslashes.")
    return filename


class StorageUnavailable(Unavailable):
    """The object store cannot be reached, or lost an upload in progress (a restart): retry later.

    Adapters raise it for outages (never for a missing object, which is `NotFound`, or a bad key)."""

    def __init__(self, message: str) -> None:
        super().__init__("storage", message)


class StoredObjectCorrupt(DsarError):
    """A stored object failed its integrity check (a changed, cut or swapped byte, a header moved to another
    object): raised instead of handing out wrong bytes (encrypted storage, docs/encryption.md)."""

    code = "STORED_OBJECT_CORRUPT"


@runtime_checkable
class Storage(Protocol):
    """Where objects (result archives) are kept; adapters: local files, S3 with presigned URLs, memory (the fake)."""

    @property
    def capabilities(self) -> Capabilities:
        """What this adapter can do beyond the common methods (presigned PUTs, links to dsar's own route)."""
        ...

    def put_stream(
        self, key: str, chunks: Iterable[bytes], content_type: str = "application/octet-stream"
    ) -> StoredObject:
        """Write the chunks under the key atomically (readers see the old object or the whole new one)."""
        ...

    def exists(self, key: str) -> bool: ...

    def discard_partial(self, key: str) -> int:
        """Remove what an interrupted write of this key left behind (temp files, incomplete uploads)."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; a missing object is not an error."""
        ...

    def open(self, key: str) -> BinaryIO:
        """Open the object for reading; `dsar.errors.NotFound` if it does not exist."""
        ...

    def size(self, key: str) -> int:
        """Size in bytes; `dsar.errors.NotFound` if the object does not exist."""
        ...

    def list_objects(self, prefix: str = "") -> Iterator[ListedObject]:
        """The objects whose keys start with `prefix`, streamed (a page, a directory at a time, never the whole
        store in memory), in no promised order; writes in progress are not objects yet."""
        ...

    def signed_url(self, key: str, ttl_seconds: int, *, filename: str | None = None) -> str:
        """An absolute GET link valid for ttl_seconds; `filename` is the name the browser saves under."""
        ...

    def signed_put_url(self, key: str, ttl_seconds: int, *, size: int, content_type: str) -> str:
        """A presigned PUT bound to this size and content type; `NotImplementedError` unless
        `capabilities.presigned_put`."""
        ...

    def check_link(self, key: str, expires: int | str, signature: str, filename: str | None) -> LinkCheck:
        """The verdict on a `/files/` link's parameters (signature first, then expiry); always INVALID unless
        `capabilities.own_download_route` (the object store checks its own links)."""
        ...

    def local_file(self, key: str) -> LocalFile | None:
        """The regular file holding the object when the adapter keeps objects as files on this machine, else None;
        `dsar.errors.NotFound` if the adapter keeps files and this object does not exist."""
        ...


__all__ = [
    "S3_EXTRA_HINT",
    "Capabilities",
    "ListedObject",
    "LocalFile",
    "Storage",
    "StoredObject",
    "StoredObjectCorrupt",
    "validate_filename",
    "validate_key",
]
