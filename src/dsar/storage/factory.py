"""The storage adapter for a URL (`DSAR_STORAGE_URL`); adapters with optional dependencies import lazily."""

from __future__ import annotations

import importlib
from pathlib import Path
from urllib.parse import unquote, urlsplit

from dsar.kit.clock import Clock
from dsar.storage.base import S3_EXTRA_HINT, Storage
from dsar.storage.local import LocalStorage

__all__ = ["storage_from_url"]


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
