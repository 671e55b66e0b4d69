"""Local-files storage adapter: objects under a root directory, served through signed `/files/` links."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from stat import S_ISREG
from typing import BinaryIO

from dsar.errors import NotFound
from dsar.kit.clock import Clock
from dsar.storage import links
from dsar.storage.base import (
    Capabilities,
    ListedObject,
    LocalFile,
    StorageUnavailable,
    StoredObject,
    validate_key,
)
from dsar.storage.links import LinkCheck

_TEMP_PREFIX = ".dsar-"
_TEMP_SUFFIX = ".tmp"


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

    capabilities = Capabilities(presigned_put=False, own_download_route=True)

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

    def local_file(self, key: str) -> LocalFile:
        """The object's file and its stat; `NotFound` unless it is a regular file."""
        stat = self.stat(key)
        return LocalFile(self.path(key), stat)

    def list_objects(self, prefix: str = "") -> Iterator[ListedObject]:
        """The stored objects under `prefix`, one directory at a time (each sorted), never the whole tree in
        memory; temp files of writes in progress (dot-names) are left out."""
        start = self.root
        head, _, _ = prefix.rpartition("/")
        if head:  # walk only below the prefix's directory
            try:
                start = self.path(head)
            except ValueError:
                return
        with _outages():
            if not start.is_dir():
                return
            for directory, dirs, files in os.walk(start):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                base = Path(directory)
                for name in sorted(files):
                    if name.startswith("."):
                        continue
                    path = base / name
                    key = path.relative_to(self.root).as_posix()
                    if not key.startswith(prefix):
                        continue
                    try:
                        result = path.stat(follow_symlinks=False)
                    except FileNotFoundError:  # deleted meanwhile
                        continue
                    if S_ISREG(result.st_mode):
                        yield ListedObject(key, datetime.fromtimestamp(result.st_mtime, UTC))

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        """The keys of `list_objects`."""
        return (item.key for item in self.list_objects(prefix))

    # -- signed links ------------------------------------------------------------------------------

    def signed_url(self, key: str, ttl_seconds: int, *, filename: str | None = None) -> str:
        """A GET link to `/files/{key}` that expires ttl_seconds from now (by the storage's clock)."""
        return links.signed_link(self.public_url, self._signing_key, self._clock, key, ttl_seconds, filename)

    def signed_put_url(self, key: str, ttl_seconds: int, *, size: int, content_type: str) -> str:
        raise NotImplementedError("Local storage takes uploads through dsar's own /uploads/ route.")

    def check_link(self, key: str, expires: int | str, signature: str, filename: str | None) -> LinkCheck:
        """Check the signature (constant time) first, then the expiry; touches no file."""
        return links.check_link(self._signing_key, self._clock, key, expires, signature, filename)

    def verify(self, key: str, expires: int | str, signature: str, filename: str | None = None) -> bool:
        """True if the link was signed by us for exactly these values and has not expired."""
        return self.check_link(key, expires, signature, filename) is LinkCheck.VALID


__all__ = ["LinkCheck", "LocalStorage"]
