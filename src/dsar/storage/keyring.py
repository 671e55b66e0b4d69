"""Key-encryption keys (KEKs): they wrap and unwrap the per-object data keys of encrypted storage.

A `Keyring` wraps a data key under its current KEK and names it by a key id, which the object's header keeps;
it unwraps with whichever KEK the header names, so objects wrapped under an older key stay readable after
the current key changes (and `dsar keys rotate` re-wraps them). `LocalKeyring` holds AES-256 keys from the
settings (AES-GCM key wrapping); `dsar.storage.kms.KmsKeyring` asks AWS KMS. Every wrap binds a context
(the object's key and header fields), so a wrapped key moved to another object does not unwrap.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dsar.errors import DsarError
from dsar.storage.base import StoredObjectCorrupt

KMS_PREFIX = "kms:"


class KeyUnavailable(DsarError):
    """The key id an object names is not configured (or KMS refused it): a configuration error, not tampering."""

    kind = "config"
    code = "ENCRYPTION_KEY_UNAVAILABLE"


class Keyring(Protocol):
    @property
    def current_id(self) -> str:
        """The id of the key that wraps new data keys."""
        ...

    def wrap(self, data_key: bytes, context: bytes) -> tuple[str, bytes]:
        """(key id, wrapped data key) under the current key, bound to `context`."""
        ...

    def unwrap(self, key_id: str, wrapped: bytes, context: bytes) -> bytes:
        """The data key; `KeyUnavailable` for an unknown key id, `StoredObjectCorrupt` if it does not open."""
        ...


def parse_local_key(key_id: str, value: str) -> bytes:
    """A 32-byte key from its base64 (standard or URL-safe) text; ValueError naming only the key id."""
    try:
        raw = base64.b64decode(value.strip() + "=" * (-len(value.strip()) % 4), altchars=b"-_", validate=False)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ValueError(f"encryption key {key_id!r} must be 32 random bytes in base64 (44 characters)")
    return raw


class LocalKeyring:
    """AES-256 KEKs by id, held in memory (from DSAR_ENCRYPTION__KEYS or derived from the master key)."""

    def __init__(self, keys: Mapping[str, bytes], current_id: str) -> None:
        for key_id, key in keys.items():
            if not key_id or key_id.startswith(KMS_PREFIX) or len(key) != 32:
                raise ValueError(f"encryption key {key_id!r}: ids are non-empty, not kms:..., keys 32 bytes")
        if current_id not in keys:
            raise ValueError(f"the current encryption key id {current_id!r} is not among the configured keys")
        self._keys = dict(keys)
        self._current = current_id

    @property
    def current_id(self) -> str:
        return self._current

    def knows(self, key_id: str) -> bool:
        return key_id in self._keys

    @staticmethod
    def _aad(key_id: str, context: bytes) -> bytes:
        return b"dsar-kek-v1\n" + key_id.encode("utf-8") + b"\n" + context

    def wrap(self, data_key: bytes, context: bytes) -> tuple[str, bytes]:
        nonce = os.urandom(12)
        sealed = AESGCM(self._keys[self._current]).encrypt(nonce, data_key, self._aad(self._current, context))
        return self._current, nonce + sealed

    def unwrap(self, key_id: str, wrapped: bytes, context: bytes) -> bytes:
        key = self._keys.get(key_id)
        if key is None:
            raise KeyUnavailable(f"Encryption key {key_id!r} is not configured (DSAR_ENCRYPTION__KEYS).")
        try:
            return AESGCM(key).decrypt(wrapped[:12], wrapped[12:], self._aad(key_id, context))
        except (InvalidTag, ValueError):
            raise StoredObjectCorrupt("A stored object's data key failed its integrity check.") from None


class ChainKeyring:
    """Wraps with `writer`; unwraps KMS ids with `kms` and the others with `local` (both may be configured
    while moving from settings keys to KMS, or back)."""

    def __init__(self, writer: Keyring, local: LocalKeyring | None, kms: Keyring | None) -> None:
        self._writer = writer
        self._local = local
        self._kms = kms

    @property
    def current_id(self) -> str:
        return self._writer.current_id

    def wrap(self, data_key: bytes, context: bytes) -> tuple[str, bytes]:
        return self._writer.wrap(data_key, context)

    def unwrap(self, key_id: str, wrapped: bytes, context: bytes) -> bytes:
        if key_id.startswith(KMS_PREFIX):
            if self._kms is None:
                raise KeyUnavailable("An object's key is in AWS KMS, but no KMS key is configured.")
            return self._kms.unwrap(key_id, wrapped, context)
        if self._local is None:
            raise KeyUnavailable(f"Encryption key {key_id!r} is not configured (DSAR_ENCRYPTION__KEYS).")
        return self._local.unwrap(key_id, wrapped, context)


__all__ = [
    "KMS_PREFIX",
    "ChainKeyring",
    "KeyUnavailable",
    "Keyring",
    "LocalKeyring",
    "parse_local_key",
]
