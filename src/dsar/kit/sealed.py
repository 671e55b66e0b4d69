"""Sealed streams: AES-256-GCM in authenticated fixed-size chunks, for streaming writes and random-access reads.

The plaintext is cut into chunks of `chunk_size` bytes (the last one may be shorter, or empty for an empty
stream: there is always at least one chunk). Chunk `i` is sealed with the object's own data key under the
nonce `prefix (8 random bytes) || i (4 bytes, big-endian)`, and its associated data names the format
version, `i` and whether it is the final chunk. So a flipped byte, a chunk moved to another place, a
truncated stream (its last chunk does not say final) or chunks appended after the final one all fail to
open, and a reader of any byte range decrypts only the chunks that hold it. Nothing here knows where the
ciphertext lives; `dsar.storage.encrypted` keeps it in the object store (docs/encryption.md).
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT_VERSION = 1
CHUNK_SIZE = 64 * 1024
TAG_SIZE = 16
KEY_SIZE = 32
PREFIX_SIZE = 8
MAX_CHUNKS = 2**32  # the chunk index fills the nonce's last 4 bytes


class Tampered(Exception):
    """The ciphertext is not what was sealed: a changed byte, a missing or extra chunk, or another key."""


def new_data_key() -> bytes:
    return os.urandom(KEY_SIZE)


def new_prefix() -> bytes:
    return os.urandom(PREFIX_SIZE)


def chunk_count(size: int, chunk_size: int = CHUNK_SIZE) -> int:
    """How many chunks a plaintext of `size` bytes is sealed in (at least one)."""
    return max(1, -(-size // chunk_size))


def sealed_size(size: int, chunk_size: int = CHUNK_SIZE) -> int:
    """The ciphertext's length for a plaintext of `size` bytes."""
    return size + chunk_count(size, chunk_size) * TAG_SIZE


def nonce(prefix: bytes, index: int) -> bytes:
    if index >= MAX_CHUNKS:
        raise ValueError("The stream is too long to seal: more than 2**32 chunks.")
    return prefix + struct.pack(">I", index)


def aad(index: int, final: bool) -> bytes:
    return struct.pack(">BQB", FORMAT_VERSION, index, 1 if final else 0)


def seal(data_key: bytes, prefix: bytes, chunks: Iterable[bytes], chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """The sealed chunks of the plaintext `chunks` (re-cut to `chunk_size`), in order, the last marked final."""
    aead = AESGCM(data_key)
    buffer = bytearray()
    index = 0
    for piece in chunks:
        if not piece:
            continue
        buffer += piece
        # Keep at least one byte back: only the end of the input tells which chunk is the final one.
        while len(buffer) > chunk_size:
            yield aead.encrypt(nonce(prefix, index), bytes(buffer[:chunk_size]), aad(index, False))
            del buffer[:chunk_size]
            index += 1
    yield aead.encrypt(nonce(prefix, index), bytes(buffer), aad(index, True))


def open_chunk(aead: AESGCM, prefix: bytes, index: int, final: bool, sealed: bytes) -> bytes:
    try:
        return aead.decrypt(nonce(prefix, index), sealed, aad(index, final))
    except InvalidTag:
        raise Tampered(f"Chunk {index} failed its integrity check.") from None


class SealedReader(io.RawIOBase):
    """A seekable reader of a sealed stream's plaintext: each read decrypts only the chunks it needs.

    `source(offset)` opens the ciphertext at byte `offset` (a seek of a local file, a ranged GET of an object
    store); the reader calls it again only when it must jump. `size` is the plaintext's length, from the
    object's header; a ciphertext that ends early raises `Tampered`, as does any chunk that fails to open."""

    def __init__(
        self,
        data_key: bytes,
        prefix: bytes,
        size: int,
        source: Callable[[int], BinaryIO],
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        super().__init__()
        self._aead = AESGCM(data_key)
        self._prefix = prefix
        self._size = size
        self._chunk_size = chunk_size
        self._chunks = chunk_count(size, chunk_size)
        self._source = source
        self._handle: BinaryIO | None = None
        self._handle_at = -1  # ciphertext offset the open handle reads next
        self._pos = 0
        self._cached_index = -1
        self._cached = b""

    # -- io.RawIOBase ------------------------------------------------------------------------------

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        elif whence == io.SEEK_END:
            target = self._size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if target < 0:
            raise ValueError("negative seek position")
        self._pos = target
        return target

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        end = self._size if size is None or size < 0 else min(self._size, self._pos + size)
        if self._pos >= end:
            if self._size == 0 and self._cached_index < 0:
                self._chunk(0)  # an empty object still has its one (final) chunk to check
            return b""
        parts: list[bytes] = []
        while self._pos < end:
            index = self._pos // self._chunk_size
            plain = self._chunk(index)
            start = self._pos - index * self._chunk_size
            piece = plain[start : start + (end - self._pos)]
            parts.append(piece)
            self._pos += len(piece)
        return b"".join(parts)

    def readall(self) -> bytes:
        return self.read(-1)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        super().close()

    # -- chunks ------------------------------------------------------------------------------------

    def _chunk(self, index: int) -> bytes:
        if index == self._cached_index:
            return self._cached
        final = index == self._chunks - 1
        plain_len = self._size - index * self._chunk_size if final else self._chunk_size
        offset = index * (self._chunk_size + TAG_SIZE)
        if self._handle is None or self._handle_at != offset:
            if self._handle is not None:
                self._handle.close()
            self._handle = self._source(offset)
            self._handle_at = offset
        want = plain_len + TAG_SIZE
        sealed = read_exactly(self._handle, want)
        self._handle_at += len(sealed)
        if len(sealed) != want:
            raise Tampered(f"The sealed stream ends inside chunk {index}.")
        self._cached = open_chunk(self._aead, self._prefix, index, final, sealed)
        self._cached_index = index
        return self._cached


def read_exactly(handle: BinaryIO, n: int) -> bytes:
    """Up to `n` bytes: fewer only at the end of the stream (a raw read may return less than asked)."""
    parts: list[bytes] = []
    left = n
    while left > 0:
        got = handle.read(left)
        if not got:
            break
        parts.append(got)
        left -= len(got)
    return b"".join(parts)


__all__ = [
    "CHUNK_SIZE",
    "FORMAT_VERSION",
    "KEY_SIZE",
    "SealedReader",
    "Tampered",
    "aad",
    "chunk_count",
    "new_data_key",
    "new_prefix",
    "nonce",
    "open_chunk",
    "seal",
    "sealed_size",
]
