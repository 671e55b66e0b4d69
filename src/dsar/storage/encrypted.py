"""Encryption at rest as a storage decorator: any adapter (local files, S3) keeps only ciphertext.

Every object written through `EncryptedStorage` gets a fresh 256-bit data key. Its bytes are sealed in
64 KiB AES-256-GCM chunks (`dsar.kit.sealed`) into a *body* under the reserved prefix `dsar-sealed/`; the
caller's key holds a small *header* (JSON): format version, the key id of the key-encryption key, the
wrapped data key, the nonce prefix, the plaintext size and the body's name. A write puts the body first and
the header last (each atomic in the inner adapter), so readers see the old object or the whole new one.
Rotation (`rewrap`) rewrites the header only: bodies are never rewritten. Downloads go through dsar's own
signed `/files/` links (the object store's presigned links would hand out ciphertext), and uploads through
dsar's `/uploads/` route (a presigned PUT would store plaintext). A body's name carries its object's key
(`dsar-sealed/<xxxx>/<escaped key>.<random>`), so `sweep_orphans` finds the one header that could name it.

With encryption off (`seal_writes=False`) the decorator stays in place for reading: new objects are written
in clear (and S3's presigned links come back for them), but an object written sealed is still recognised
by its header and decrypted, or refused with a clear error; it is never served as its header's bytes.
docs/encryption.md has the details.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Protocol, cast, runtime_checkable

from dsar.errors import NotFound
from dsar.kit import sealed
from dsar.kit.clock import Clock
from dsar.storage import links
from dsar.storage.base import (
    MAX_SEGMENT_LENGTH,
    Capabilities,
    ListedObject,
    LocalFile,
    Storage,
    StoredObject,
    StoredObjectCorrupt,
    validate_key,
)
from dsar.storage.keyring import Keyring
from dsar.storage.links import LinkCheck

MAGIC = b"DSAR-SEALED\n"
BODY_PREFIX = "dsar-sealed/"
HEADER_TYPE = "application/vnd.dsar.sealed-header+json"
_MAX_HEADER = 8192


@runtime_checkable
class RangedOpen(Protocol):
    def open_at(self, key: str, offset: int) -> BinaryIO: ...


@dataclass(frozen=True, slots=True)
class Header:
    key_id: str
    wrapped: bytes
    prefix: bytes
    size: int
    chunk_size: int
    body: str

    def context(self, key: str) -> bytes:
        """What the wrapped key is bound to: this object's key and the header's fixed fields."""
        fields = ["dsar-object-v1", key, self.body, base64.b64encode(self.prefix).decode(), str(self.size)]
        return "\n".join([*fields, str(self.chunk_size)]).encode("utf-8")

    def encode(self) -> bytes:
        doc = {
            "version": sealed.FORMAT_VERSION,
            "cipher": "AES-256-GCM",
            "key_id": self.key_id,
            "wrapped_key": base64.b64encode(self.wrapped).decode(),
            "nonce_prefix": base64.b64encode(self.prefix).decode(),
            "size": self.size,
            "chunk_size": self.chunk_size,
            "body": self.body,
        }
        return MAGIC + json.dumps(doc, separators=(",", ":")).encode("utf-8")

    @classmethod
    def decode(cls, raw: bytes) -> Header:
        try:
            doc = json.loads(raw[len(MAGIC) :])
            header = cls(
                key_id=str(doc["key_id"]),
                wrapped=base64.b64decode(doc["wrapped_key"], validate=True),
                prefix=base64.b64decode(doc["nonce_prefix"], validate=True),
                size=int(doc["size"]),
                chunk_size=int(doc["chunk_size"]),
                body=str(doc["body"]),
            )
            ok = doc["version"] == sealed.FORMAT_VERSION and doc["cipher"] == "AES-256-GCM"
        except (ValueError, KeyError, TypeError):
            raise StoredObjectCorrupt("A stored object's header is not readable.") from None
        valid = header.size >= 0 and 0 < header.chunk_size <= 1 << 24 and len(header.prefix) == sealed.PREFIX_SIZE
        if not (ok and valid and header.body.startswith(BODY_PREFIX)):
            raise StoredObjectCorrupt("A stored object's header is not readable.")
        return header


def body_name(key: str) -> str:
    """A new body's name for the object under `key`: `dsar-sealed/<xxxx>/<key, escaped>.<32 random hex>`, the
    key in one path segment (`_` as `_u`, `/` as `_s`) so local storage makes no directory per key; for a key
    too long for one segment, `dsar-sealed/<xxxx>/<32 random hex>` (never swept: its name names no owner)."""
    fan, token = secrets.token_hex(2), secrets.token_hex(16)
    segment = f"{key.replace('_', '_u').replace('/', '_s')}.{token}"
    if len(segment) <= MAX_SEGMENT_LENGTH:
        return f"{BODY_PREFIX}{fan}/{segment}"
    return f"{BODY_PREFIX}{fan}/{token}"


def body_owner(body: str) -> str | None:
    """The key whose header may name `body`; None for a body whose name names no owner (an older one)."""
    fan, _, segment = body.removeprefix(BODY_PREFIX).partition("/")
    escaped, dot, token = segment.rpartition(".")
    if not body.startswith(BODY_PREFIX) or not fan or "/" in segment or not dot or len(token) != 32:
        return None
    owner, rest = [], iter(escaped)
    for char in rest:
        if char == "_":
            char = {"u": "_", "s": "/"}.get(next(rest, ""), "")
            if not char:
                return None
        owner.append(char)
    try:
        key = validate_key("".join(owner))
    except ValueError:
        return None
    return None if key.startswith(BODY_PREFIX) else key


@dataclass(frozen=True, slots=True)
class Sweep:
    """What `sweep_orphans` did with the bodies under `dsar-sealed/`: deleted (named by no header and older than
    the grace period), kept because a header names them, kept because they are younger than the grace period
    (a write may be in progress), kept because their name does not say which header could name them."""

    deleted: int
    named: int
    young: int
    unknown: int


@dataclass(frozen=True, slots=True)
class Rotation:
    """What `rotate` did: objects re-wrapped, already under the current key, and stored in clear."""

    key_id: str
    rewrapped: int
    current: int
    clear: int


class EncryptedStorage:
    """A `Storage` whose objects are sealed with per-object data keys wrapped by `keyring` (see module doc)."""

    def __init__(
        self,
        inner: Storage,
        keyring: Keyring,
        *,
        public_url: str,
        signing_key: bytes,
        clock: Clock,
        plaintext_reads: bool = True,
        chunk_size: int = sealed.CHUNK_SIZE,
        seal_writes: bool = True,
    ) -> None:
        if not signing_key:
            raise ValueError("EncryptedStorage needs a non-empty signing key.")
        self.inner = inner
        self.keyring = keyring
        self.public_url = public_url.rstrip("/")
        self._signing_key = signing_key
        self._clock = clock
        self._seal = seal_writes
        self._plaintext_reads = plaintext_reads or not seal_writes
        self._chunk_size = chunk_size
        if seal_writes:
            self.capabilities = Capabilities(presigned_put=False, own_download_route=True)
        else:  # clear objects keep the inner adapter's presigned PUTs; sealed ones go through dsar's route
            self.capabilities = Capabilities(presigned_put=inner.capabilities.presigned_put, own_download_route=True)

    def __repr__(self) -> str:
        mode = "" if self._seal else ", reading only"
        return f"EncryptedStorage({self.inner!r}, key_id={self.keyring.current_id!r}{mode})"

    @staticmethod
    def _key(key: str) -> str:
        validate_key(key)
        if key.startswith(BODY_PREFIX):
            raise ValueError(f"Invalid storage key {key!r}: {BODY_PREFIX} is reserved for encrypted bodies.")
        return key

    # -- headers -----------------------------------------------------------------------------------

    def _read_header(self, key: str) -> Header | None:
        """The object's header; None for an object stored in clear (written before encryption was on, or while
        it was off). `StoredObjectCorrupt` for a clear object when clear objects are not read."""
        header, handle = self._open_checked(key, keep_open=False)
        del handle
        return header

    def _open_checked(self, key: str, *, keep_open: bool) -> tuple[Header | None, BinaryIO | None]:
        """The object's header, or (None, a reader of the clear object from its first byte) when `keep_open`."""
        if not self._seal and not keep_open and self.inner.size(key) > len(MAGIC) + _MAX_HEADER:
            return None, None  # too large to be a header: no need to read it (the common case here)
        handle = self.inner.open(key)
        try:
            raw = sealed.read_exactly(handle, len(MAGIC))
            if raw == MAGIC:
                raw += sealed.read_exactly(handle, _MAX_HEADER)
                handle.close()
                return Header.decode(raw), None
            if not self._plaintext_reads:
                raise StoredObjectCorrupt("A stored object is not encrypted, and clear objects are not read.")
            if not keep_open:
                handle.close()
                return None, None
            if handle.seekable():
                handle.seek(0)
                return None, handle
            return None, cast(BinaryIO, io.BufferedReader(_Rewound(raw, handle), buffer_size=256 * 1024))
        except BaseException:
            handle.close()
            raise

    def header(self, key: str) -> Header | None:
        """The header of the object under `key` (None if stored in clear); `NotFound` if there is none."""
        return self._read_header(self._key(key))

    def _unwrap(self, key: str, header: Header) -> bytes:
        return self.keyring.unwrap(header.key_id, header.wrapped, header.context(key))

    # -- objects -----------------------------------------------------------------------------------

    def put_stream(
        self, key: str, chunks: Iterable[bytes], content_type: str = "application/octet-stream"
    ) -> StoredObject:
        """Seal the chunks into a new body, then write the header over the key, then drop the old body (with
        sealing off: write the chunks in clear over the key; `sweep_orphans` deletes the body it replaced)."""
        self._key(key)
        if not self._seal:  # one write, as without the decorator; a sealed object's body it replaced is swept
            return self.inner.put_stream(key, chunks, content_type)
        data_key, prefix = sealed.new_data_key(), sealed.new_prefix()
        body = body_name(key)
        digest = hashlib.sha256()
        size = 0

        def plaintext() -> Iterator[bytes]:
            nonlocal size
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                yield chunk

        self.inner.put_stream(body, sealed.seal(data_key, prefix, plaintext(), self._chunk_size))
        try:
            old = self._read_header_or_none(key)
            header = Header("", b"", prefix, size, self._chunk_size, body)
            key_id, wrapped = self.keyring.wrap(data_key, header.context(key))
            header = Header(key_id, wrapped, prefix, size, self._chunk_size, body)
            self.inner.put_stream(key, [header.encode()], HEADER_TYPE)
        except BaseException:
            self.inner.delete(body)
            raise
        if old is not None and old.body != body:
            self.inner.delete(old.body)
        return StoredObject(key=key, size=size, sha256=digest.hexdigest())

    def _read_header_or_none(self, key: str) -> Header | None:
        try:
            return self._read_header(key)
        except (NotFound, StoredObjectCorrupt):
            return None

    def discard_partial(self, key: str) -> int:
        """What the inner adapter left of an interrupted header write. A body whose header was never written
        is noise (its data key existed only in the writer's memory): `sweep_orphans` deletes it later."""
        return self.inner.discard_partial(self._key(key))

    def exists(self, key: str) -> bool:
        return self.inner.exists(self._key(key))

    def delete(self, key: str) -> None:
        """Remove the header, then the body; a missing object is not an error."""
        header = self._read_header_or_none(self._key(key))
        self.inner.delete(key)
        if header is not None:
            self.inner.delete(header.body)

    def open(self, key: str) -> BinaryIO:
        """A seekable reader of the plaintext; each read decrypts only the chunks it needs and raises
        `StoredObjectCorrupt` (never returns wrong bytes) when a chunk fails its check."""
        header, handle = self._open_checked(self._key(key), keep_open=True)
        if header is None:
            assert handle is not None
            return handle
        data_key = self._unwrap(key, header)
        try:
            body_size = self.inner.size(header.body)
        except NotFound:
            raise StoredObjectCorrupt("A stored object's encrypted body is missing.") from None
        if body_size != sealed.sealed_size(header.size, header.chunk_size):
            raise StoredObjectCorrupt("A stored object's encrypted body has the wrong length.")
        reader = _Reader(data_key, header.prefix, header.size, _Source(self.inner, header.body), header.chunk_size)
        return cast(BinaryIO, reader)

    def size(self, key: str) -> int:
        header = self._read_header(self._key(key))
        return self.inner.size(key) if header is None else header.size

    def local_file(self, key: str) -> LocalFile | None:
        """None: the files on disk hold ciphertext; the `/files/` route streams the decrypted object. With
        sealing off, a clear object's own file (the route sends it as it is)."""
        self._key(key)
        if self._seal or self._read_header(key) is not None:
            return None
        return self.inner.local_file(key)

    # -- rotation ----------------------------------------------------------------------------------

    def list_objects(self, prefix: str = "") -> Iterator[ListedObject]:
        """The callers' objects (headers and clear objects), never the bodies, as the inner adapter lists them."""
        for item in self.inner.list_objects(prefix):
            if not item.key.startswith(BODY_PREFIX):
                yield item

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        return (item.key for item in self.list_objects(prefix))

    def sweep_orphans(self, older_than: datetime) -> Sweep:
        """Delete the bodies no header names that were written before `older_than` (the bodies of writes killed
        between body and header, or between header and the old body's delete). The listing of `dsar-sealed/` is
        streamed, and each body old enough costs one read of the one header that could name it. A body younger
        than `older_than` is kept, as its header may be on its way; so is one whose owner's header exists but
        cannot be read (a configuration error is no reason to delete)."""
        counts = {"deleted": 0, "named": 0, "young": 0, "unknown": 0}
        for item in self.inner.list_objects(BODY_PREFIX):
            if item.modified >= older_than:
                counts["young"] += 1
                continue
            owner = body_owner(item.key)
            if owner is None:
                counts["unknown"] += 1
                continue
            try:
                header = self._raw_header(owner)
            except StoredObjectCorrupt:
                counts["unknown"] += 1
                continue
            if header is not None and header.body == item.key:
                counts["named"] += 1
                continue
            self.inner.delete(item.key)
            counts["deleted"] += 1
        return Sweep(**counts)

    def _raw_header(self, key: str) -> Header | None:
        """The header stored under `key`, or None when there is none (no object, or a clear one)."""
        try:
            with self.inner.open(key) as handle:
                raw = sealed.read_exactly(handle, len(MAGIC))
                if raw != MAGIC:
                    return None
                raw += sealed.read_exactly(handle, _MAX_HEADER)
        except NotFound:
            return None
        return Header.decode(raw)

    def rewrap(self, key: str) -> bool:
        """Wrap the object's data key under the current key-encryption key (header rewrite only); False when
        it already is, or the object is stored in clear."""
        header = self._read_header(self._key(key))
        if header is None or header.key_id == self.keyring.current_id:
            return False
        data_key = self._unwrap(key, header)
        key_id, wrapped = self.keyring.wrap(data_key, header.context(key))
        fresh = Header(key_id, wrapped, header.prefix, header.size, header.chunk_size, header.body)
        now = self._read_header_or_none(key)
        if now is None or now.body != header.body:  # rewritten meanwhile: the new header is current already
            return False
        self.inner.put_stream(key, [fresh.encode()], HEADER_TYPE)
        return True

    def rotate(self) -> Rotation:
        """Re-wrap every object's data key under the current key (headers only); resumable, run it again after
        an interruption. Objects written meanwhile are wrapped under the current key already."""
        counts = {"rewrapped": 0, "current": 0, "clear": 0}
        for key in self.list_keys():
            try:
                header = self._read_header(key)
            except NotFound:  # deleted meanwhile
                continue
            if header is None:
                counts["clear"] += 1
            elif self.rewrap(key):
                counts["rewrapped"] += 1
            else:
                counts["current"] += 1
        return Rotation(key_id=self.keyring.current_id, **counts)

    # -- signed links ------------------------------------------------------------------------------

    def signed_url(self, key: str, ttl_seconds: int, *, filename: str | None = None) -> str:
        """dsar's own `/files/` link (the route decrypts on the fly); never the object store's presigned one
        for a sealed object. With sealing off, a clear object in an object store gets its presigned link."""
        self._key(key)
        if not self._seal and not self.inner.capabilities.own_download_route:
            try:
                clear = self._read_header(key) is None
            except NotFound:
                clear = True
            if clear:
                return self.inner.signed_url(key, ttl_seconds, filename=filename)
        return links.signed_link(self.public_url, self._signing_key, self._clock, key, ttl_seconds, filename)

    def signed_put_url(self, key: str, ttl_seconds: int, *, size: int, content_type: str) -> str:
        """With sealing off, the inner adapter's presigned PUT (the upload is stored in clear); else refused."""
        if self._seal:
            raise NotImplementedError("Encrypted storage takes uploads through dsar's own /uploads/ route.")
        return self.inner.signed_put_url(self._key(key), ttl_seconds, size=size, content_type=content_type)

    def check_link(self, key: str, expires: int | str, signature: str, filename: str | None) -> LinkCheck:
        return links.check_link(self._signing_key, self._clock, key, expires, signature, filename)


class _Source:
    """Opens a body's ciphertext at an offset: a ranged GET where the adapter has one, else a seek or a skip."""

    def __init__(self, inner: Storage, body: str) -> None:
        self._inner = inner
        self._body = body

    def __call__(self, offset: int) -> BinaryIO:
        if offset and isinstance(self._inner, RangedOpen):
            return self._inner.open_at(self._body, offset)
        handle = self._inner.open(self._body)
        if offset:
            if handle.seekable():
                handle.seek(offset)
            else:
                while offset > 0:
                    skipped = handle.read(min(offset, 1 << 20))
                    if not skipped:
                        break
                    offset -= len(skipped)
        return handle


class _Rewound(io.RawIOBase):
    """A clear object's reader that could not seek back: the bytes read to look for a header, then the rest."""

    def __init__(self, head: bytes, handle: BinaryIO) -> None:
        super().__init__()
        self._head = head
        self._handle = handle

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._handle.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._handle.close()
        super().close()


class _Reader(sealed.SealedReader):
    """The sealed reader, its integrity failures as `StoredObjectCorrupt` (a `DsarError` the faces know)."""

    def read(self, size: int | None = -1) -> bytes:
        try:
            return super().read(size)
        except sealed.Tampered:
            raise StoredObjectCorrupt("A stored object failed its integrity check.") from None


__all__ = ["BODY_PREFIX", "EncryptedStorage", "Header", "Rotation", "Sweep", "body_name", "body_owner"]
