"""The archive signing keys: Ed25519 JWK files in a directory, generated on first use and rotated.

Each `*.json` file in the keys directory is one JWK (RFC 7517/8037) with `kid` (its RFC 7638 thumbprint),
`nbf` and `exp` (the window in which it signs, seconds since 1970); a file with `d` holds a private key
(mode 0600), a file without one only publishes an older public key. The key that signs at time T is the
one whose window holds T with the latest start. When the signing key has less than `prepublish` left, its
successor is made (starting where it ends), so that caches of the JWKS hold the new key before it signs.
A key stays published until its window ended `grace` ago, so archives it signed still verify.
Generation happens under an exclusive lock on `<dir>/.lock`: replicas sharing the directory make one key.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dsar.errors import DsarError
from dsar.kit.jws import JwsError, PublicKey, SigningKey

__all__ = ["KeyStore", "SigningKeyError"]


class SigningKeyError(DsarError):
    kind = "config"
    code = "SigningKeyError"


@dataclass(frozen=True)
class KeyStore:
    keys_dir: Path
    lifetime: timedelta = timedelta(days=90)
    grace: timedelta = timedelta(days=365)
    prepublish: timedelta = timedelta(days=1)
    generate: bool = True  # make (and rotate) keys in keys_dir when none signs now
    configured: SigningKey | None = None  # a key given in the settings: it signs, nothing is generated
    # Each key file as last read, by path, with its stat stamp (mtime, size, inode): its JSON, and its private
    # key once parsed. A file is read and parsed again only when its stamp changed, so signing an archive costs
    # a directory listing and a stat per key file, not reading and parsing each (another process's new key
    # still shows at once: it is a new file).
    _read: dict[Path, tuple[tuple[int, int, int], Any]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _keys: dict[Path, tuple[tuple[int, int, int], SigningKey]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def signer(self, now: datetime) -> SigningKey:
        """The key that signs an archive made at `now` (generating or rotating keys if allowed)."""
        if self.configured is not None:
            if not self.configured.public.valid_at(now):
                raise SigningKeyError(f"the configured archive signing key {self.configured.kid} is not valid now")
            return self.configured
        keys = self._private()
        key = self._current(keys, now)
        if key is not None and (
            key.not_after is None
            or now < key.not_after - self.prepublish
            or any(k.not_before == key.not_after for k in keys)  # its successor is already published
        ):
            return key
        if not self.generate:
            if key is None:
                raise SigningKeyError(f"no archive signing key in {self.keys_dir} is valid now")
            return key
        with self._locked():  # another process may have made it while we waited
            keys = self._private()
            key = self._current(keys, now)
            if key is None:
                key = self._make(now, now + self.lifetime)
                keys.append(key)
            if key.not_after is not None and now >= key.not_after - self.prepublish:
                starts = key.not_after
                if not any(k.not_before == starts for k in keys):
                    self._make(starts, starts + self.lifetime)
            return key

    def published(self, now: datetime) -> list[PublicKey]:
        """The public keys to publish at `now`: every key whose window ended less than `grace` ago."""
        if self.generate:  # the first key exists before anything is signed with it
            self.signer(now)
        keys = [k for k in self._public() if k.not_after is None or now < k.not_after + self.grace]
        if self.configured is not None and all(k.kid != self.configured.kid for k in keys):
            keys.append(self.configured.public)
        return sorted(keys, key=lambda k: (k.not_before or datetime.min.replace(tzinfo=UTC), k.kid))

    def jwks(self, now: datetime) -> dict[str, Any]:
        return {"keys": [k.jwk() for k in self.published(now)]}

    def _current(self, keys: list[SigningKey], now: datetime) -> SigningKey | None:
        valid = [k for k in keys if k.public.valid_at(now)]
        if not valid:
            return None
        return max(valid, key=lambda k: (k.not_before or datetime.min.replace(tzinfo=UTC), k.kid))

    def _files(self) -> Iterator[tuple[Path, tuple[int, int, int], Any]]:
        """Each key file: its path, its stat stamp and its JSON (read again only when the stamp changed)."""
        if not self.keys_dir.is_dir():
            return
        for path in sorted(self.keys_dir.glob("*.json")):
            st = path.stat()
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
            known = self._read.get(path)
            if known is None or known[0] != stamp:
                try:
                    known = (stamp, json.loads(path.read_bytes()))
                except ValueError as exc:
                    raise SigningKeyError(f"{path} is not a JWK (JSON): {exc}") from None
                self._read[path] = known
            yield path, stamp, known[1]

    def _private(self) -> list[SigningKey]:
        out = []
        for path, stamp, doc in self._files():
            if isinstance(doc, dict) and "d" in doc:
                known = self._keys.get(path)
                if known is None or known[0] != stamp:
                    try:
                        known = (stamp, SigningKey.from_jwk(doc))
                    except JwsError as exc:
                        raise SigningKeyError(f"{path}: {exc}") from None
                    self._keys[path] = known
                out.append(known[1])
        return out

    def _public(self) -> list[PublicKey]:
        out = []
        for path, _stamp, doc in self._files():
            try:
                out.append(PublicKey.from_jwk(doc))
            except JwsError as exc:
                raise SigningKeyError(f"{path}: {exc}") from None
        return out

    def _make(self, not_before: datetime, not_after: datetime) -> SigningKey:
        key = SigningKey.generate(_second(not_before), _second(not_after))
        stamp = key.not_before.strftime("%Y%m%dT%H%M%SZ") if key.not_before else "0"
        path = self.keys_dir / f"ed25519-{stamp}-{key.kid[:12]}.json"
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(json.dumps(key.private_jwk(), indent=2).encode() + b"\n")
        os.replace(tmp, path)
        return key

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.keys_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock


def _second(when: datetime) -> datetime:
    """JWK windows are whole seconds."""
    utc = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return utc.replace(microsecond=0)
