"""Work files of a retrieval (the rows spooled between the sources and the archive), sealed at rest.

With encryption at rest on (`EngineOptions.seal_spool`), `SpoolWriter` seals a work file in the chunk format
of `dsar.kit.sealed` under a fresh data key, itself wrapped by a key that lives in this process's memory
only; every reader opens work files with `open_spool`, which also reads those written in clear.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from typing import BinaryIO, cast

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dsar.kit import sealed

SPOOL_MAGIC = b"DSAR-SPOOL-1\n"
# Wraps each work file's data key. It lives in this process's memory only: a work file outlives neither
# the run that wrote it nor a crash (a retry reads the sources again), so losing the key loses nothing, and a
# work file left on disk by a crash is noise.
_PROCESS_KEY = os.urandom(sealed.KEY_SIZE)
_SPOOL_HEADER = len(SPOOL_MAGIC) + sealed.PREFIX_SIZE + 12 + sealed.KEY_SIZE + sealed.TAG_SIZE
# Made once: the AEAD object only holds the key (each call makes its own cipher context), and a retrieval
# opens some ten work files and reads each about twice.
_WRAPPER = AESGCM(_PROCESS_KEY)


class SpoolWriter(io.RawIOBase):
    """An append-only file whose bytes land sealed on disk (`open_spool` reads them back in this process).

    `seek(n)` (or `truncate(n)`) back to an earlier position drops what was written after it, as a retried
    read of a source does; dropping sealed chunks re-seals the kept bytes under a fresh data key, so no
    nonce is ever used twice with one key."""

    def __init__(self, path: os.PathLike[str] | str, chunk_size: int = sealed.CHUNK_SIZE) -> None:
        super().__init__()
        self._path = path
        self._file = open(path, "wb")  # noqa: SIM115 - closed by close()
        self._chunk_size = chunk_size
        self._start(fresh=True)

    def _start(self, fresh: bool = False) -> None:
        data_key, prefix, nonce = sealed.new_data_key(), sealed.new_prefix(), os.urandom(12)
        wrapped = _WRAPPER.encrypt(nonce, data_key, SPOOL_MAGIC + prefix)
        if not fresh:  # a file just opened "wb" is empty already
            self._file.seek(0)
            self._file.truncate()
        self._file.write(SPOOL_MAGIC + prefix + nonce + wrapped)
        self._aead = AESGCM(data_key)
        self._prefix = prefix
        self._buffer = bytearray()
        self._index = 0

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._index * self._chunk_size + len(self._buffer)

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._buffer += data
        size = self._chunk_size
        while len(self._buffer) > size:  # the final chunk is only known at close
            plain = bytes(self._buffer[:size])
            self._file.write(
                self._aead.encrypt(sealed.nonce(self._prefix, self._index), plain, sealed.aad(self._index, False))
            )
            del self._buffer[:size]
            self._index += 1
        return len(data)

    def flush(self) -> None:
        """Push the sealed chunks to the file (the open chunk stays in memory until it is full or closed)."""
        if not self._file.closed:
            self._file.flush()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence != io.SEEK_SET or offset > self.tell() or offset < 0:
            raise io.UnsupportedOperation("a sealed work file only goes back to an earlier position")
        self.truncate(offset)
        return offset

    def truncate(self, size: int | None = None) -> int:
        size = self.tell() if size is None else size
        flushed = self._index * self._chunk_size
        if size >= flushed:
            del self._buffer[size - flushed :]
            return size
        self._file.flush()
        kept: list[bytes] = []
        with open(self._path, "rb") as sealed_file:
            sealed_file.seek(_SPOOL_HEADER)
            for index in range(-(-size // self._chunk_size)):
                piece = sealed_file.read(self._chunk_size + sealed.TAG_SIZE)
                kept.append(sealed.open_chunk(self._aead, self._prefix, index, False, piece))
        self._start()
        self.write(b"".join(kept)[:size])
        return size

    def close(self) -> None:
        if self.closed:
            return
        try:
            last = self._aead.encrypt(
                sealed.nonce(self._prefix, self._index), bytes(self._buffer), sealed.aad(self._index, True)
            )
            self._file.write(last)
        finally:
            self._file.close()
            super().close()


def open_spool(path: os.PathLike[str] | str, chunk_size: int = sealed.CHUNK_SIZE) -> BinaryIO:
    """A buffered reader of a work file: sealed by `SpoolWriter` in this process, or written in clear.

    A sealed file of one chunk (most work files: a subject's rows of one collection) is read and opened in one
    go into memory (at most `chunk_size` bytes); a longer one is decrypted chunk by chunk as it is read."""
    raw = open(path, "rb")  # noqa: SIM115 - handed to the caller
    try:
        head = raw.read(_SPOOL_HEADER + chunk_size + sealed.TAG_SIZE + 1)
        if not head.startswith(SPOOL_MAGIC):
            raw.seek(0)
            return raw
        if len(head) < _SPOOL_HEADER:
            raise sealed.Tampered("A work file ends inside its header.")
        prefix = head[len(SPOOL_MAGIC) : len(SPOOL_MAGIC) + sealed.PREFIX_SIZE]
        nonce = head[len(SPOOL_MAGIC) + sealed.PREFIX_SIZE : len(SPOOL_MAGIC) + sealed.PREFIX_SIZE + 12]
        try:
            data_key = _WRAPPER.decrypt(
                nonce, head[len(SPOOL_MAGIC) + sealed.PREFIX_SIZE + 12 : _SPOOL_HEADER], SPOOL_MAGIC + prefix
            )
        except (InvalidTag, ValueError):
            raise sealed.Tampered("A work file was not sealed by this process, or was changed.") from None
        if len(head) <= _SPOOL_HEADER + chunk_size + sealed.TAG_SIZE:  # the whole file: one (final) chunk
            raw.close()
            plain = sealed.open_chunk(AESGCM(data_key), prefix, 0, True, head[_SPOOL_HEADER:])
            return cast(BinaryIO, io.BytesIO(plain))
        body = os.fstat(raw.fileno()).st_size - _SPOOL_HEADER
        chunks = max(1, -(-body // (chunk_size + sealed.TAG_SIZE)))
        size = max(0, body - chunks * sealed.TAG_SIZE)
    except BaseException:
        raw.close()
        raise

    def source(offset: int) -> BinaryIO:
        raw.seek(_SPOOL_HEADER + offset)
        return cast(BinaryIO, _Unclosed(raw))

    reader = _OwningReader(data_key, prefix, size, source, chunk_size, raw)
    return cast(BinaryIO, io.BufferedReader(reader, buffer_size=chunk_size))


class _Unclosed(io.RawIOBase):
    """The shared file handle as a source the reader may 'close' when it jumps (the owner closes it)."""

    def __init__(self, raw: BinaryIO) -> None:
        super().__init__()
        self._raw = raw

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._raw.read(size)


class _OwningReader(sealed.SealedReader):
    def __init__(
        self,
        data_key: bytes,
        prefix: bytes,
        size: int,
        source: Callable[[int], BinaryIO],
        chunk_size: int,
        raw: BinaryIO,
    ) -> None:
        super().__init__(data_key, prefix, size, source, chunk_size)
        self._raw = raw

    def close(self) -> None:
        super().close()
        self._raw.close()


__all__ = ["SPOOL_MAGIC", "SpoolWriter", "open_spool"]
