"""Local-files storage adapter: objects under a root directory, served through signed `/files/` links."""

from __future__ import annotations

import contextlib
import enum
import errno
import hashlib
import math
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from stat import S_ISREG
from typing import BinaryIO
from urllib.parse import quote, urlencode

from dsar.errors import NotFound
from dsar.kit import signing
from dsar.kit.clock import Clock
from dsar.storage.base import StorageUnavailable, StoredObject, validate_filename, validate_key

_EXPIRES = re.compile(r"[0-9]{1,12}")
_MAX_SIGNATURE_LENGTH = 128
_TEMP_PREFIX = ".dsar-"
_TEMP_SUFFIX = ".tmp"


class LinkCheck(enum.Enum):
    """The verdict on a signed link: valid, genuine but expired, or not issued by us."""

    VALID = "valid"
    EXPIRED = "expired"
    INVALID = "invalid"


def _fsync_dir(path: Path) -> None:
    """Make a rename in the directory durable (best effort: some file systems refuse)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# The errors of a file system that went away (a network mount that lost its server, a failing disk), as
# opposed to a missing file or a bad path: retried later, not a bug.
_OUTAGE_ERRNOS = frozenset(
    {errno.EIO, errno.ENOTCONN, errno.ETIMEDOUT, errno.ESTALE, errno.EHOSTDOWN, errno.EHOSTUNREACH, errno.ENXIO}
)


@contextlib.contextmanager
def _outages() -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        if isinstance(exc, ConnectionError) or exc.errno in _OUTAGE_ERRNOS:
            raise StorageUnavailable(
                f"The storage directory is unavailable ({type(exc).__name__} {exc.errno})."
            ) from exc
        raise


class LocalStorage:
    """Objects as files under `root`; links are `{public_url}/files/{key}?expires=..&signature=..`."""

    def __init__(self, root: Path, public_url: str, signing_key: bytes, clock: Clock) -> None:
        if not signing_key:
            raise ValueError("LocalStorage needs a non-empty signing key.")
        self.root = Path(root).absolute()
        self.public_url = public_url.rstrip("/")
        self._signing_key = signing_key
        self._clock = clock

    def __repr__(self) -> str:
        return f"LocalStorage(root={str(self.root)!r}, public_url={self.public_url!r})"

    # -- objects -----------------------------------------------------------------------------------

    def path(self, key: str) -> Path:
        """The file that holds (or would hold) the object; ValueError for an invalid key."""
        return self.root.joinpath(*validate_key(key).split("/"))

    def put_stream(
        self, key: str, chunks: Iterable[bytes], content_type: str = "application/octet-stream"
    ) -> StoredObject:
        """Write to a temp file beside the target, fsync, then rename over it; on error nothing is left."""
        with _outages():
            return self._put_stream(key, chunks)

    def _put_stream(self, key: str, chunks: Iterable[bytes]) -> StoredObject:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f"{_TEMP_PREFIX}{target.name}.", suffix=_TEMP_SUFFIX)
        tmp = Path(tmp_name)
        digest = hashlib.sha256()
        size = 0
        replaced = False
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    if not chunk:
                        continue
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
            replaced = True
        finally:
            if not replaced:
                tmp.unlink(missing_ok=True)
        _fsync_dir(target.parent)
        return StoredObject(key=key, size=size, sha256=digest.hexdigest())

    def discard_partial(self, key: str) -> int:
        """Remove what a writer killed mid-write left beside the key; call only while holding the task's lease."""
        target = self.path(key)
        removed = 0
        with _outages():
            if target.parent.is_dir():
                for leftover in target.parent.glob(f"{_TEMP_PREFIX}{target.name}.*{_TEMP_SUFFIX}"):
                    leftover.unlink(missing_ok=True)
                    removed += 1
        return removed

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, key: str) -> None:
        """Remove the object; a missing object (or a key that names a directory) is not an error."""
        with _outages(), contextlib.suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
            self.path(key).unlink()

    def open(self, key: str) -> BinaryIO:
        path = self.path(key)
        try:
            with _outages():
                return path.open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise NotFound(f"No stored object under key {key!r}.") from exc

    def stat(self, key: str) -> os.stat_result:
        """`os.stat` of the object's file; `NotFound` unless it is a regular file."""
        try:
            result = os.stat(self.path(key))
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise NotFound(f"No stored object under key {key!r}.") from exc
        if not S_ISREG(result.st_mode):
            raise NotFound(f"No stored object under key {key!r}.")
        return result

    def size(self, key: str) -> int:
        return self.stat(key).st_size

    # -- signed links ------------------------------------------------------------------------------

    def _sign(self, key: str, expires: str, filename: str | None) -> str:
        return signing.sign(self._signing_key, "GET", key, expires, filename or "")

    def signed_url(self, key: str, ttl_seconds: int, *, filename: str | None = None) -> str:
        """A GET link to `/files/{key}` that expires ttl_seconds from now (by the storage's clock)."""
        validate_key(key)
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive.")
        if filename is not None:
            validate_filename(filename)
        expires = str(math.floor(self._clock.now().timestamp()) + ttl_seconds)
        query = {"expires": expires, "signature": self._sign(key, expires, filename)}
        if filename:
            query["filename"] = filename
        return f"{self.public_url}/files/{key}?{urlencode(query, quote_via=quote)}"

    def check_link(self, key: str, expires: int | str, signature: str, filename: str | None) -> LinkCheck:
        """Check the signature (constant time) first, then the expiry; touches no file."""
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
        parts = ("GET", key, expires_text, filename or "")
        if not signing.verify(self._signing_key, signature, *parts):
            return LinkCheck.INVALID
        if self._clock.now().timestamp() > int(expires_text):
            return LinkCheck.EXPIRED
        return LinkCheck.VALID

    def verify(self, key: str, expires: int | str, signature: str, filename: str | None = None) -> bool:
        """True if the link was signed by us for exactly these values and has not expired."""
        return self.check_link(key, expires, signature, filename) is LinkCheck.VALID


__all__ = ["LinkCheck", "LocalStorage"]
