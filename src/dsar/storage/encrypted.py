"""Encryption at rest as a storage decorator: any adapter (local files, S3) keeps only ciphertext.

Every object written through `EncryptedStorage` gets a fresh 256-bit data key. Its bytes are sealed in
64 KiB AES-256-GCM chunks (`dsar.kit.sealed`) into a *body* under the reserved prefix `dsar-sealed/`; the
caller's key holds a small *header* (JSON): format version, the key id of the key-encryption key, the
wrapped data key, the nonce prefix, the plaintext size and the body's name. A write puts the body first and
the header last (each atomic in the inner adapter), so readers see the old object or the whole new one.
Rotation (`rewrap`) rewrites the header only: bodies are never rewritten. Downloads go through dsar's own
signed `/files/` links (the object store's presigned links would hand out ciphertext), and uploads through
dsar's `/uploads/` route (a presigned PUT would store plaintext). docs/encryption.md has the details.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol, cast, runtime_checkable

from dsar.errors import NotFound
from dsar.kit import sealed
from dsar.kit.clock import Clock
from dsar.storage import links
from dsar.storage.base import Capabilities, LocalFile, Storage, StoredObject, StoredObjectCorrupt, validate_key
from dsar.storage.keyring import Keyring
from dsar.storage.links import LinkCheck

MAGIC = b"DSAR-SEALED\n"
BODY_PREFIX = "dsar-sealed/"
HEADER_TYPE = "application/vnd.dsar.sealed-header+json"
_MAX_HEADER = 8192


@runtime_checkable
class Listing(Protocol):
    def list_keys(self, prefix: str = "") -> Iterator[str]: ...


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


@dataclass(frozen=True, slots=True)
class Rotation:
    """What `rotate` did: objects re-wrapped, already under the current key, and stored in clear."""

    key_id: str
    rewrapped: int
    current: int
    clear: int


class EncryptedStorage:
    """A `Storage` whose objects are sealed with per-object data keys wrapped by `keyring` (see module doc)."""

    capabilities = Capabilities(presigned_put=False, own_download_route=True)

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
    ) -> None:
        if not signing_key:
            raise ValueError("EncryptedStorage needs a non-empty signing key.")
        self.inner = inner
        self.keyring = keyring
        self.public_url = public_url.rstrip("/")
        self._signing_key = signing_key
        self._clock = clock
        self._plaintext_reads = plaintext_reads
        self._chunk_size = chunk_size

    def __repr__(self) -> str:
        return f"EncryptedStorage({self.inner!r}, key_id={self.keyring.current_id!r})"

    @staticmethod
    def _key(key: str) -> str:
        validate_key(key)
        if key.startswith(BODY_PREFIX):
            raise ValueError(f"Invalid storage key {key!r}: {BODY_PREFIX} is reserved for encrypted bodies.")
        return key

    # -- headers -----------------------------------------------------------------------------------

    def _read_header(self, key: str) -> Header | None:
        """The object's header; None for an object stored in clear (written before encryption was on)."""
        with self.inner.open(key) as handle:
            raw = handle.read(len(MAGIC))
            if raw != MAGIC:
                if self._plaintext_reads:
                    return None
                raise StoredObjectCorrupt("A stored object is not encrypted, and clear objects are not read.")
            raw += handle.read(_MAX_HEADER)
        return Header.decode(raw)

    def header(self, key: str) -> Header | None:
        """The header of the object under `key` (None if stored in clear); `NotFound` if there is none."""
        return self._read_header(self._key(key))

    def _unwrap(self, key: str, header: Header) -> bytes:
        return self.keyring.unwrap(header.key_id, header.wrapped, header.context(key))

    # -- objects -----------------------------------------------------------------------------------

    def put_stream(
        self, key: str, chunks: Iterable[bytes], content_type: str = "application/octet-stream"
    ) -> StoredObject:
        """Seal the chunks into a new body, then write the header over the key, then drop the old body."""
        self._key(key)
        data_key, prefix = sealed.new_data_key(), sealed.new_prefix()
        body = f"{BODY_PREFIX}{secrets.token_hex(2)}/{secrets.token_hex(16)}"
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
        is noise: its data key existed only in the writer's memory (docs/encryption.md)."""
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
        header = self._read_header(self._key(key))
        if header is None:
            return self.inner.open(key)
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
        """None: the files on disk hold ciphertext; the `/files/` route streams the decrypted object."""
        self._key(key)
        return None

    # -- rotation ----------------------------------------------------------------------------------

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        """The callers' keys (headers and clear objects), never the bodies; needs a listing inner adapter."""
        if not isinstance(self.inner, Listing):
            raise NotImplementedError(f"{self.inner!r} cannot list its objects.")
        for key in self.inner.list_keys(prefix):
            if not key.startswith(BODY_PREFIX):
                yield key

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
        """dsar's own `/files/` link (the route decrypts on the fly); never the object store's presigned one."""
        self._key(key)
        return links.signed_link(self.public_url, self._signing_key, self._clock, key, ttl_seconds, filename)

    def signed_put_url(self, key: str, ttl_seconds: int, *, size: int, content_type: str) -> str:
        raise NotImplementedError("Encrypted storage takes uploads through dsar's own /uploads/ route.")

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


class _Reader(sealed.SealedReader):
    """The sealed reader, its integrity failures as `StoredObjectCorrupt` (a `DsarError` the faces know)."""

    def read(self, size: int | None = -1) -> bytes:
        try:
            return super().read(size)
        except sealed.Tampered:
            raise StoredObjectCorrupt("A stored object failed its integrity check.") from None


__all__ = ["BODY_PREFIX", "EncryptedStorage", "Header", "Rotation"]
