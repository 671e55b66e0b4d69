"""The storage adapter for a URL (`DSAR_STORAGE_URL`); adapters with optional dependencies import lazily."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit

from dsar.kit.clock import Clock
from dsar.storage.base import S3_EXTRA_HINT, Storage
from dsar.storage.keyring import ChainKeyring, Keyring, KeyUnavailable, LocalKeyring, parse_local_key
from dsar.storage.local import LocalStorage

__all__ = ["MASTER_KEY_ID", "make_keyring", "storage_from_url"]

MASTER_KEY_ID = "master"


def storage_from_url(url: str, *, public_url: str, signing_key: bytes, clock: Clock) -> Storage:
    """The adapter for `DSAR_STORAGE_URL`: `file:///abs/path` (local files) or `s3://bucket/prefix`."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
            raise ValueError(f"Storage URL {url!r}: use file:///absolute/path (no host, query or fragment).")
        path = unquote(parts.path)
        if not path.startswith("/"):
            raise ValueError(f"Storage URL {url!r}: the path must be absolute, as in file:///var/lib/dsar.")
        return LocalStorage(Path(path), public_url=public_url, signing_key=signing_key, clock=clock)
    if scheme == "s3":
        # Lazy import point: `dsar.storage.s3` (with boto3) arrives with the `s3` extra.
        try:
            module = importlib.import_module("dsar.storage.s3")
        except ModuleNotFoundError as exc:
            if exc.name in ("dsar.storage.s3", "boto3", "botocore") or (exc.name or "").startswith("boto"):
                raise RuntimeError(f"{S3_EXTRA_HINT} (DSAR_STORAGE_URL={url})") from exc
            raise
        storage: Storage = module.from_url(url, public_url=public_url, signing_key=signing_key, clock=clock)
        return storage
    raise ValueError(f"Storage URL {url!r}: unsupported scheme; use file:///absolute/path or s3://bucket/prefix.")


def make_keyring(keys: Mapping[str, str], key_id: str, kms_key_id: str | None, *, master_kek: bytes) -> Keyring:
    """The key-encryption keys: `master` (derived from the master key), the configured ones by id, and AWS KMS
    when `kms_key_id` is set (it then wraps every new data key); `KeyUnavailable` for a wrong configuration."""
    local = {MASTER_KEY_ID: master_kek}
    for kid, value in keys.items():
        if kid == MASTER_KEY_ID:
            raise KeyUnavailable(f"DSAR_ENCRYPTION__KEYS: the id {MASTER_KEY_ID!r} names the derived key; use another.")
        try:
            local[kid] = parse_local_key(kid, value)
        except ValueError as exc:
            raise KeyUnavailable(f"DSAR_ENCRYPTION__KEYS: {exc}") from None
    if key_id not in local and not kms_key_id:
        raise KeyUnavailable(f"DSAR_ENCRYPTION__KEY_ID {key_id!r} is not among DSAR_ENCRYPTION__KEYS.")
    try:
        settings_keys = LocalKeyring(local, key_id if key_id in local else MASTER_KEY_ID)
    except ValueError as exc:
        raise KeyUnavailable(f"DSAR_ENCRYPTION__KEYS: {exc}") from None
    if not kms_key_id:
        return settings_keys
    try:
        module = importlib.import_module("dsar.storage.kms")
    except ModuleNotFoundError as exc:
        if exc.name in ("dsar.storage.kms", "boto3", "botocore") or (exc.name or "").startswith("boto"):
            raise RuntimeError(f"{S3_EXTRA_HINT} (AWS KMS, DSAR_ENCRYPTION__KMS_KEY_ID)") from exc
        raise
    kms: Keyring = module.KmsKeyring(kms_key_id)
    return ChainKeyring(kms, settings_keys, kms)
