"""The local-files adapter's own behaviour: files under the root, temp files, modes, `file://` URLs.

The port's contract (writes, reads, deletes, keys, links) is tests/contract/test_storage.py, run over every
adapter; the `/files/` route is tests/storage/test_files_route.py.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from dsar.kit.clock import FrozenClock
from dsar.storage.base import S3_EXTRA_HINT, StoredObject
from dsar.storage.factory import storage_from_url
from dsar.storage.local import LocalStorage

KEY = "privacyRequest/6f1c2a9e-3a43-4a8e-9c1e-0d6f4f1b2c3d/result/data_retrieval.zip"
PUBLIC_URL = "https://dsar.example.test"
SIGNING_KEY = b"k" * 32
CONTENT = bytes(range(256)) * 16


def _chunks(data: bytes, size: int = 1000) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _read(storage: LocalStorage, key: str) -> bytes:
    with storage.open(key) as handle:
        return handle.read()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def storage(tmp_path: Path, clock: FrozenClock) -> LocalStorage:
    return LocalStorage(tmp_path / "objects", public_url=PUBLIC_URL + "/", signing_key=SIGNING_KEY, clock=clock)


@pytest.fixture
def stored(storage: LocalStorage) -> StoredObject:
    return storage.put_stream(KEY, _chunks(CONTENT), content_type="application/zip")


def test_an_object_is_a_file_under_the_root_by_its_key(storage: LocalStorage, stored: StoredObject) -> None:
    assert storage.path(KEY) == storage.root / "privacyRequest" / KEY.split("/")[1] / "result" / "data_retrieval.zip"
    file = storage.local_file(KEY)
    assert file.path == storage.path(KEY)
    assert file.stat.st_size == len(CONTENT)


def test_a_failing_stream_leaves_no_temp_file(storage: LocalStorage) -> None:
    def broken() -> Iterator[bytes]:
        yield b"x" * 10_000
        yield b"y" * 10_000
        raise RuntimeError("the source went away")

    with pytest.raises(RuntimeError, match="went away"):
        storage.put_stream(KEY, broken())
    assert [p for p in storage.root.rglob("*") if p.is_file()] == []


def test_a_failing_overwrite_leaves_only_the_previous_file(storage: LocalStorage, stored: StoredObject) -> None:
    def broken() -> Iterator[bytes]:
        yield b"new" * 1000
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        storage.put_stream(KEY, broken())
    assert _read(storage, KEY) == CONTENT
    assert [p.name for p in storage.path(KEY).parent.iterdir()] == ["data_retrieval.zip"]


def test_writing_a_key_again_leaves_one_file(storage: LocalStorage, stored: StoredObject) -> None:
    storage.put_stream(KEY, [b"second ", b"version"])
    assert _read(storage, KEY) == b"second version"
    assert [p.name for p in storage.path(KEY).parent.iterdir()] == ["data_retrieval.zip"]


def test_stored_files_are_private_to_the_service_user(storage: LocalStorage, stored: StoredObject) -> None:
    assert storage.path(KEY).stat().st_mode & 0o077 == 0


def test_discard_partial_removes_a_dead_writers_temp_files(storage: LocalStorage, stored: StoredObject) -> None:
    leftover = storage.path(KEY).parent / ".dsar-data_retrieval.zip.abc123.tmp"
    leftover.write_bytes(b"half an archive")
    assert storage.discard_partial(KEY) == 1
    assert not leftover.exists()
    assert storage.discard_partial(KEY) == 0
    assert _read(storage, KEY) == CONTENT


@pytest.mark.parametrize("key", ["", "/etc/passwd", "../outside.zip", "a/../../outside.zip", ".hidden", "a b.zip"])
def test_invalid_keys_touch_no_file(storage: LocalStorage, key: str) -> None:
    with pytest.raises(ValueError, match="key"):
        storage.path(key)
    with pytest.raises(ValueError, match="key"):
        storage.put_stream(key, [b"data"])
    assert not storage.root.exists() or [p for p in storage.root.rglob("*")] == []


def test_verify_is_check_link_saying_valid(storage: LocalStorage) -> None:
    query = dict(parse_qsl(urlsplit(storage.signed_url(KEY, 60, filename="my-data.zip")).query))
    assert storage.verify(KEY, query["expires"], query["signature"], "my-data.zip")
    assert storage.verify(KEY, int(query["expires"]), query["signature"], "my-data.zip")
    assert not storage.verify(KEY, query["expires"], query["signature"], None)
    assert not LocalStorage(storage.root, PUBLIC_URL, b"another key", FrozenClock()).verify(
        KEY, query["expires"], query["signature"], "my-data.zip"
    )


def test_local_storage_declares_its_own_routes() -> None:
    assert LocalStorage.capabilities.own_download_route
    assert not LocalStorage.capabilities.presigned_put


def test_storage_from_url(tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch) -> None:
    made = storage_from_url(tmp_path.as_uri(), public_url=PUBLIC_URL, signing_key=SIGNING_KEY, clock=clock)
    assert isinstance(made, LocalStorage)
    assert made.root == tmp_path
    assert made.signed_url("a.zip", 60).startswith(f"{PUBLIC_URL}/files/a.zip?")
    # Without the s3 extra (boto3 missing), s3:// names the extra to install.
    monkeypatch.setitem(sys.modules, "boto3", None)
    monkeypatch.delitem(sys.modules, "dsar.storage.s3", raising=False)
    with pytest.raises(RuntimeError) as excinfo:
        storage_from_url("s3://bucket/prefix", public_url=PUBLIC_URL, signing_key=SIGNING_KEY, clock=clock)
    assert S3_EXTRA_HINT in str(excinfo.value)
    assert 'pip install "dsar[s3]"' in str(excinfo.value)
    for bad in ("file://relative/path", "file:relative", "ftp://host/x", "/just/a/path", "file:///x?y=1"):
        with pytest.raises(ValueError, match="Storage URL"):
            storage_from_url(bad, public_url=PUBLIC_URL, signing_key=SIGNING_KEY, clock=clock)
