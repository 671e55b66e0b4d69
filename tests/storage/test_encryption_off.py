"""Encryption at rest turned off (`DSAR_ENCRYPTION__ENABLED=false`, docs/encryption.md), over local files and S3
on moto_server: an object written sealed before is recognised by its header and decrypted while its key is
configured, or refused with a clear error; it is never served as its header's bytes. Objects written while
off are stored in clear (and, with S3, get S3's presigned links again).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from tests.live import loopback_server

from dsar.api.rest.files import files_router
from dsar.bootstrap import Container
from dsar.config import Settings
from dsar.kit.clock import FrozenClock
from dsar.storage.base import Storage
from dsar.storage.encrypted import BODY_PREFIX, MAGIC, EncryptedStorage
from dsar.storage.keyring import KeyUnavailable, LocalKeyring
from dsar.storage.local import LocalStorage

KEY = "privacyRequest/6f1c2a9e-3a43-4a8e-9c1e-0d6f4f1b2c3d/result/data_retrieval.zip"
CLEAR_KEY = "uploads/7d2e.csv"
CONTENT = b"PK\x03\x04" + b"jane.doe@example.com," * 10_000  # about 210 KB: four chunks
CLEAR = b"id,email\n1,jane.doe@example.com\n"
PUBLIC_URL = "https://dsar.example.test"
KEYRING = LocalKeyring({"k": b"k" * 32}, "k")


@pytest.fixture(params=["local", "s3"])
def inner(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "objects", public_url=PUBLIC_URL, signing_key=b"s" * 32, clock=FrozenClock())
    from dsar.storage.s3 import S3Storage

    return S3Storage(request.getfixturevalue("s3_bucket"), "off")


def _wrapped(inner: Storage, keyring: LocalKeyring = KEYRING, *, on: bool) -> EncryptedStorage:
    return EncryptedStorage(
        inner, keyring, public_url=PUBLIC_URL, signing_key=b"s" * 32, clock=FrozenClock(), seal_writes=on
    )


def _raw(inner: Storage, key: str) -> bytes:
    with inner.open(key) as handle:
        return handle.read()


def _read(storage: Storage, key: str) -> bytes:
    with storage.open(key) as handle:
        return handle.read()


@pytest.fixture
def sealed_before(inner: Storage) -> Storage:
    """An archive written while encryption was on: a header under KEY, its body under dsar-sealed/."""
    _wrapped(inner, on=True).put_stream(KEY, [CONTENT])
    assert _raw(inner, KEY).startswith(MAGIC)
    return inner


@contextmanager
def _served(storage: Storage) -> Iterator[str]:
    app = FastAPI()
    app.include_router(files_router(storage))
    with loopback_server(lambda _base: app, lifespan="off") as base:
        yield base


def _get(storage: Storage, key: str, **kw: object) -> httpx.Response:
    """Follow `storage.signed_url(key)`: dsar's own links through the `/files/` route, S3's links to S3."""
    url = storage.signed_url(key, 60)
    if not url.startswith(PUBLIC_URL):
        return httpx.get(url, **kw)  # type: ignore[arg-type]
    with _served(storage) as base:
        return httpx.get(base + url.removeprefix(PUBLIC_URL), **kw)  # type: ignore[arg-type]


def test_a_sealed_object_is_decrypted_after_encryption_is_turned_off(sealed_before: Storage) -> None:
    off = _wrapped(sealed_before, on=False)
    assert off.size(KEY) == len(CONTENT)
    assert _read(off, KEY) == CONTENT
    with off.open(KEY) as handle:
        handle.seek(100_000)
        assert handle.read(50) == CONTENT[100_000:100_050]
    assert off.local_file(KEY) is None  # its file holds the header: the route must decrypt
    url = off.signed_url(KEY, 60)
    assert url.startswith(f"{PUBLIC_URL}/files/") and "X-Amz" not in url  # never S3's link to the header
    whole = _get(off, KEY)
    assert (whole.status_code, whole.content) == (200, CONTENT)
    part = _get(off, KEY, headers={"Range": "bytes=65530-65545"})
    assert (part.status_code, part.content) == (206, CONTENT[65530:65546])


def test_without_its_key_a_sealed_object_is_refused_never_served_as_its_header(sealed_before: Storage) -> None:
    off = _wrapped(sealed_before, LocalKeyring({"other": b"o" * 32}, "other"), on=False)
    with pytest.raises(KeyUnavailable, match="'k' is not configured"):
        off.open(KEY)
    got = _get(off, KEY)
    assert got.status_code == 500
    assert got.json() == {
        "error": "InternalError",
        "message": "The stored file is encrypted under a key this server does not have.",
    }
    assert MAGIC not in got.content and b"wrapped_key" not in got.content


def test_objects_written_while_off_stay_clear(inner: Storage) -> None:
    off = _wrapped(inner, on=False)
    stored = off.put_stream(CLEAR_KEY, [CLEAR], "text/csv")
    assert stored.size == len(CLEAR)
    assert _raw(inner, CLEAR_KEY) == CLEAR
    assert [item.key for item in inner.list_objects()] == [CLEAR_KEY]  # no body
    assert _read(off, CLEAR_KEY) == CLEAR and off.size(CLEAR_KEY) == len(CLEAR)
    url = off.signed_url(CLEAR_KEY, 60)
    if inner.capabilities.own_download_route:
        local = off.local_file(CLEAR_KEY)
        assert local is not None and local.path.read_bytes() == CLEAR  # sent as the file it is
        with pytest.raises(NotImplementedError):
            off.signed_put_url(CLEAR_KEY, 60, size=10, content_type="text/csv")
    else:
        assert "X-Amz-Signature" in url  # S3's presigned link, as before encryption existed
        assert off.capabilities.presigned_put
        assert "X-Amz-Signature" in off.signed_put_url(CLEAR_KEY, 60, size=10, content_type="text/csv")
    got = _get(off, CLEAR_KEY)
    assert (got.status_code, got.content) == (200, CLEAR)


def test_writing_over_a_sealed_object_while_off_leaves_its_body_to_the_sweep(sealed_before: Storage) -> None:
    off = _wrapped(sealed_before, on=False)
    bodies = [item.key for item in sealed_before.list_objects(BODY_PREFIX)]
    assert len(bodies) == 1
    off.put_stream(KEY, [CLEAR])  # one write of the clear object, as without encryption
    assert _raw(sealed_before, KEY) == CLEAR and _read(off, KEY) == CLEAR
    assert off.sweep_orphans(datetime.now(UTC) + timedelta(hours=1)).deleted == 1
    assert [item.key for item in sealed_before.list_objects()] == [KEY]


def test_deleting_a_sealed_object_while_off_deletes_its_body(sealed_before: Storage) -> None:
    _wrapped(sealed_before, on=False).delete(KEY)
    assert list(sealed_before.list_objects()) == []


# -- the deployment's settings -----------------------------------------------------------------------------


def test_turning_encryption_off_keeps_sealed_objects_readable_while_their_keys_are_configured(tmp_path: Path) -> None:
    key = base64.b64encode(b"K" * 32).decode()

    def settings(**encryption: object) -> Settings:
        return Settings(data_dir=tmp_path / "state", secret_key="x" * 40, encryption=encryption)

    on = Container(settings(keys={"k1": key}, key_id="k1"), with_workers=False)
    try:
        on.storage.put_stream(KEY, [CONTENT])
    finally:
        on.close()
    off = Container(settings(enabled=False, keys={"k1": key}), with_workers=False)
    try:
        assert _read(off.storage, KEY) == CONTENT
        off.storage.put_stream(CLEAR_KEY, [CLEAR])
        assert (tmp_path / "state" / "objects" / CLEAR_KEY).read_bytes() == CLEAR
    finally:
        off.close()
    gone = Container(settings(enabled=False), with_workers=False)  # the key removed
    try:
        with pytest.raises(KeyUnavailable, match="'k1' is not configured"):
            gone.storage.open(KEY)
        assert _read(gone.storage, CLEAR_KEY) == CLEAR
    finally:
        gone.close()
