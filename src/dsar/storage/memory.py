"""The in-memory storage adapter: the fake of the port, for tests that need no files and no object store.

It keeps the port's promises (a write appears whole or not at all, keys are validated, missing objects are
`NotFound`) and signs links with the local adapter's scheme (`dsar.storage.links`), so dsar's own `/files/`
route judges and serves them. Objects live in a dict guarded by a lock: threads may share one instance.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from dsar.errors import NotFound
from dsar.kit.clock import Clock
from dsar.storage import links
from dsar.storage.base import Capabilities, ListedObject, StoredObject, validate_key
from dsar.storage.links import LinkCheck


@dataclass(frozen=True, slots=True)
class MemoryObject:
    """What the fake keeps per key: the bytes, their content type and when the write completed."""

    data: bytes
    content_type: str
    written_at: datetime


class MemoryStorage:
    """Objects in a dict; links are `{public_url}/files/{key}?expires=..&signature=..`, as local storage's."""

    capabilities = Capabilities(presigned_put=False, own_download_route=True)

    def __init__(self, *, public_url: str, signing_key: bytes, clock: Clock) -> None:
        if not signing_key:
            raise ValueError("MemoryStorage needs a non-empty signing key.")
        self.public_url = public_url.rstrip("/")
        self._signing_key = signing_key
        self._clock = clock
        self._objects: dict[str, MemoryObject] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryStorage(public_url={self.public_url!r}, objects={len(self._objects)})"

    # -- objects -----------------------------------------------------------------------------------

    def put_stream(
        self, key: str, chunks: Iterable[bytes], content_type: str = "application/octet-stream"
    ) -> StoredObject:
        """Gather the chunks, then store them in one step: a failing stream changes nothing."""
        validate_key(key)
        buffer = bytearray()
        for chunk in chunks:
            buffer += chunk
        data = bytes(buffer)
        with self._lock:
            self._objects[key] = MemoryObject(data, content_type, self._clock.now())
        return StoredObject(key=key, size=len(data), sha256=hashlib.sha256(data).hexdigest())

    def discard_partial(self, key: str) -> int:
        """0: an interrupted write never leaves anything behind here."""
        validate_key(key)
        return 0

    def _get(self, key: str) -> MemoryObject:
        validate_key(key)
        with self._lock:
            found = self._objects.get(key)
        if found is None:
            raise NotFound(f"No stored object under key {key!r}.")
        return found

    def exists(self, key: str) -> bool:
        validate_key(key)
        with self._lock:
            return key in self._objects

    def delete(self, key: str) -> None:
        validate_key(key)
        with self._lock:
            self._objects.pop(key, None)

    def open(self, key: str) -> BinaryIO:
        return io.BytesIO(self._get(key).data)

    def size(self, key: str) -> int:
        return len(self._get(key).data)

    def get(self, key: str) -> MemoryObject:
        """The object as stored (bytes, content type, time of the write); `NotFound` if missing."""
        return self._get(key)

    def keys(self) -> list[str]:
        """Every stored key, sorted: what a test inspects after the code under test ran."""
        with self._lock:
            return sorted(self._objects)

    def list_objects(self, prefix: str = "") -> Iterator[ListedObject]:
        """The stored objects under `prefix`, sorted by key, as they were when the listing started."""
        with self._lock:
            found = sorted((k, o.written_at) for k, o in self._objects.items() if k.startswith(prefix))
        for key, written_at in found:
            yield ListedObject(key, written_at)

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        """The stored keys under `prefix`, sorted."""
        return (item.key for item in self.list_objects(prefix))

    def local_file(self, key: str) -> None:
        """None: the objects are not files."""
        validate_key(key)
        return None

    # -- signed links ------------------------------------------------------------------------------

    def signed_url(self, key: str, ttl_seconds: int, *, filename: str | None = None) -> str:
        return links.signed_link(self.public_url, self._signing_key, self._clock, key, ttl_seconds, filename)

    def signed_put_url(self, key: str, ttl_seconds: int, *, size: int, content_type: str) -> str:
        raise NotImplementedError("Memory storage takes uploads through dsar's own /uploads/ route.")

    def check_link(self, key: str, expires: int | str, signature: str, filename: str | None) -> LinkCheck:
        return links.check_link(self._signing_key, self._clock, key, expires, signature, filename)


__all__ = ["MemoryObject", "MemoryStorage"]
