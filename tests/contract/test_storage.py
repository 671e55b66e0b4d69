"""The storage port's contract, run over every adapter: local files, S3 on moto_server, memory (the fake),
and local files and S3 behind encryption at rest (`EncryptedStorage`, docs/encryption.md).

What an adapter may do differently is what it declares in `capabilities`: links to dsar's own `/files/`
route (judged by `check_link`) or the object store's; presigned PUTs or dsar's `/uploads/` route. Links are
followed over a real socket: the object store's directly, dsar's through the `/files/` route on uvicorn.
Adapter-specific behaviour (file modes, temp files, multipart uploads, one PUT) is in tests/storage/.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from dsar.api.rest.files import files_router
from dsar.errors import NotFound
from dsar.kit.clock import FrozenClock
from dsar.storage.base import Capabilities, Storage, StoredObject
from dsar.storage.encrypted import EncryptedStorage
from dsar.storage.keyring import LocalKeyring
from dsar.storage.links import LinkCheck
from dsar.storage.local import LocalStorage
from dsar.storage.memory import MemoryStorage
from tests.live import loopback_server

KEY = "privacyRequest/6f1c2a9e-3a43-4a8e-9c1e-0d6f4f1b2c3d/result/data_retrieval.zip"
PUBLIC_URL = "https://dsar.example.test"
SIGNING_KEY = b"k" * 32
CONTENT = bytes(range(256)) * 16  # 4096 bytes, every offset is recognisable
LARGE = 20 * 1024 * 1024 + 123  # three parts of the S3 adapter's multipart upload


@dataclass
class Adapter:
    name: str
    storage: Storage
    build: Callable[[bytes], Storage]  # the same adapter kind over the same objects, with another signing key


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


KEYRING = LocalKeyring({"contract": b"c" * 32}, "contract")


@pytest.fixture(params=["local", "s3", "memory", "local-encrypted", "s3-encrypted"])
def adapter(request: pytest.FixtureRequest, tmp_path: Path, clock: FrozenClock) -> Adapter:
    if request.param.endswith("-encrypted"):
        inner = request.getfixturevalue("plain_adapter_" + request.param.removesuffix("-encrypted"))

        def encrypted(key: bytes) -> Storage:
            return EncryptedStorage(inner, KEYRING, public_url=PUBLIC_URL + "/", signing_key=key, clock=clock)

        return Adapter(request.param, encrypted(SIGNING_KEY), encrypted)
    if request.param == "local":

        def local(key: bytes) -> Storage:
            return LocalStorage(tmp_path / "objects", public_url=PUBLIC_URL + "/", signing_key=key, clock=clock)

        return Adapter("local", local(SIGNING_KEY), local)
    if request.param == "s3":
        from dsar.storage.s3 import S3Storage

        bucket = request.getfixturevalue("s3_bucket")
        return Adapter("s3", S3Storage(bucket, "contract"), lambda _key: S3Storage(bucket, "contract"))
    memory = MemoryStorage(public_url=PUBLIC_URL + "/", signing_key=SIGNING_KEY, clock=clock)
    return Adapter("memory", memory, lambda key: MemoryStorage(public_url=PUBLIC_URL, signing_key=key, clock=clock))


@pytest.fixture
def plain_adapter_local(tmp_path: Path, clock: FrozenClock) -> Storage:
    return LocalStorage(tmp_path / "objects", public_url=PUBLIC_URL, signing_key=b"inner", clock=clock)


@pytest.fixture
def plain_adapter_s3(s3_bucket: str) -> Storage:
    from dsar.storage.s3 import S3Storage

    return S3Storage(s3_bucket, "contract")


@pytest.fixture
def storage(adapter: Adapter) -> Storage:
    return adapter.storage


@pytest.fixture
def stored(storage: Storage) -> StoredObject:
    return storage.put_stream(KEY, _chunks(CONTENT), content_type="application/zip")


@pytest.fixture
def fetch(storage: Storage) -> Iterator[Callable[..., httpx.Response]]:
    """GET a link over a real socket: dsar's own links through the `/files/` route on uvicorn."""
    with httpx.Client(timeout=30) as http:
        if not storage.capabilities.own_download_route:
            yield lambda url, **kw: http.get(url, **kw)
            return
        app = FastAPI()
        app.include_router(files_router(storage))
        with loopback_server(lambda _base: app, lifespan="off", loop="asyncio") as base:

            def get(url: str, **kw: object) -> httpx.Response:
                parts = urlsplit(url)
                assert f"{parts.scheme}://{parts.netloc}" == PUBLIC_URL
                return http.get(f"{base}{parts.path}?{parts.query}", **kw)  # type: ignore[arg-type]

            yield get


def _chunks(data: bytes, size: int = 1000) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


_CYCLE = bytes(n % 251 for n in range(65536 + 251))


def _pattern(total: int, size: int = 65536) -> Iterator[bytes]:
    """Blocks of `size` bytes, block k being (k + j) % 251 for j = 0, 1, ...: no two neighbours alike."""
    for i in range(0, total, size):
        shift = (i // size) % 251
        yield _CYCLE[shift : shift + min(size, total - i)]


def _read(storage: Storage, key: str) -> bytes:
    with storage.open(key) as handle:
        return handle.read()


# -- objects -------------------------------------------------------------------------------------------


def test_the_adapter_implements_the_port(storage: Storage) -> None:
    assert isinstance(storage, Storage)
    assert isinstance(storage.capabilities, Capabilities)


def test_put_stream_writes_the_chunks_and_reports_size_and_sha256(storage: Storage, stored: StoredObject) -> None:
    assert stored == StoredObject(KEY, len(CONTENT), hashlib.sha256(CONTENT).hexdigest())
    assert storage.exists(KEY)
    assert storage.size(KEY) == len(CONTENT)
    assert _read(storage, KEY) == CONTENT


def test_put_stream_of_nothing_is_an_empty_object(storage: Storage) -> None:
    stored = storage.put_stream("a/empty.bin", iter([b"", b""]))
    assert stored.size == 0
    assert stored.sha256 == hashlib.sha256(b"").hexdigest()
    assert storage.exists("a/empty.bin")
    assert storage.size("a/empty.bin") == 0
    assert _read(storage, "a/empty.bin") == b""


def test_a_large_stream_round_trips(storage: Storage) -> None:
    stored = storage.put_stream(KEY, _pattern(LARGE), content_type="application/zip")
    expected = b"".join(_pattern(LARGE))
    assert (stored.size, stored.sha256) == (LARGE, hashlib.sha256(expected).hexdigest())
    assert storage.exists(KEY) and storage.size(KEY) == LARGE
    assert _read(storage, KEY) == expected
    storage.delete(KEY)
    assert not storage.exists(KEY)
    with pytest.raises(NotFound):
        storage.size(KEY)


def test_a_reader_that_reads_past_the_end_gets_nothing_more(storage: Storage, stored: StoredObject) -> None:
    with storage.open(KEY) as handle:
        assert handle.read(1000) == CONTENT[:1000]
        assert handle.read() == CONTENT[1000:]
        assert handle.read() == b""
        assert handle.read(10) == b""


def test_a_failing_stream_leaves_no_object(storage: Storage) -> None:
    def broken() -> Iterator[bytes]:
        yield b"x" * 10_000
        yield b"y" * 10_000
        raise RuntimeError("the source went away")

    with pytest.raises(RuntimeError, match="went away"):
        storage.put_stream(KEY, broken())
    assert not storage.exists(KEY)
    with pytest.raises(NotFound):
        storage.open(KEY)


def test_a_large_failing_stream_leaves_no_object(storage: Storage) -> None:
    def broken() -> Iterator[bytes]:
        yield b"x" * (17 * 1024 * 1024)  # two S3 parts sent, then the builder fails
        raise RuntimeError("the archive builder failed")

    with pytest.raises(RuntimeError):
        storage.put_stream(KEY, broken())
    assert not storage.exists(KEY)
    assert storage.discard_partial(KEY) == 0


def test_a_failing_overwrite_keeps_the_previous_object_whole(storage: Storage, stored: StoredObject) -> None:
    def broken() -> Iterator[bytes]:
        yield b"new" * 1000
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        storage.put_stream(KEY, broken())
    assert _read(storage, KEY) == CONTENT
    assert storage.size(KEY) == len(CONTENT)


def test_writing_a_key_again_replaces_the_object(storage: Storage, stored: StoredObject) -> None:
    again = storage.put_stream(KEY, [b"second ", b"version"])
    assert again.size == len(b"second version")
    assert _read(storage, KEY) == b"second version"
    assert storage.size(KEY) == len(b"second version")


def test_discard_partial_without_an_interrupted_write_removes_nothing(storage: Storage, stored: StoredObject) -> None:
    assert storage.discard_partial(KEY) == 0
    assert storage.discard_partial("never/written.zip") == 0
    assert _read(storage, KEY) == CONTENT


def test_delete_removes_and_tolerates_missing_objects(storage: Storage, stored: StoredObject) -> None:
    storage.delete(KEY)
    assert not storage.exists(KEY)
    storage.delete(KEY)
    storage.delete("never/written.zip")
    storage.delete("privacyRequest")  # a directory (a prefix) is not an object
    with pytest.raises(NotFound):
        storage.size(KEY)
    with pytest.raises(NotFound):
        storage.open(KEY)


def test_prefixes_are_not_objects(storage: Storage, stored: StoredObject) -> None:
    assert not storage.exists("privacyRequest")
    with pytest.raises(NotFound):
        storage.open("privacyRequest")
    with pytest.raises(NotFound):
        storage.size("privacyRequest")
    with pytest.raises(NotFound):
        storage.size(f"{KEY}/below-a-file")
    assert _read(storage, KEY) == CONTENT


# -- listing ------------------------------------------------------------------------------------------

LISTED = ["a/1.bin", "a/b/2.bin", "a/b/c/3.bin", "ab.bin", "z.bin"]


def _now(adapter: Adapter, clock: FrozenClock) -> datetime:
    """The adapter's time of a write: the fake's clock; the file system's or the object store's real time."""
    return clock.now() if adapter.name == "memory" else datetime.now(UTC)


def test_a_listing_names_each_object_under_the_prefix_once_with_its_write_time(
    adapter: Adapter, clock: FrozenClock
) -> None:
    storage = adapter.storage
    before = _now(adapter, clock)
    for key in LISTED:
        storage.put_stream(key, [key.encode()])
    after = _now(adapter, clock)
    listed = list(storage.list_objects())
    assert sorted(item.key for item in listed) == LISTED
    for item in listed:  # S3 keeps whole seconds
        assert item.modified.utcoffset() == timedelta(0)
        assert before - timedelta(seconds=1) <= item.modified <= after + timedelta(seconds=1)
    assert sorted(item.key for item in storage.list_objects("a/")) == ["a/1.bin", "a/b/2.bin", "a/b/c/3.bin"]
    assert sorted(item.key for item in storage.list_objects("a/b/")) == ["a/b/2.bin", "a/b/c/3.bin"]
    assert sorted(item.key for item in storage.list_objects("a")) == LISTED[:4]
    assert sorted(item.key for item in storage.list_objects("a/b/c/3")) == ["a/b/c/3.bin"]
    assert list(storage.list_objects("nothing/")) == []
    assert list(storage.list_objects("z.bin/")) == []


def test_a_listing_is_a_stream_that_survives_deletes_on_the_way(storage: Storage) -> None:
    for key in LISTED:
        storage.put_stream(key, [b"x"])
    listing = storage.list_objects()
    assert iter(listing) is listing  # an iterator, read as it goes: not a list built up front
    seen = []
    for item in listing:
        seen.append(item.key)
        storage.delete(item.key)  # what a sweep does while it lists
    assert sorted(seen) == LISTED
    assert list(storage.list_objects()) == []


def test_a_failed_or_overwritten_write_is_listed_as_it_ended(storage: Storage, stored: StoredObject) -> None:
    def broken() -> Iterator[bytes]:
        yield b"x" * (9 * 1024 * 1024)  # an S3 multipart upload begun, then the writer fails
        raise RuntimeError("the archive builder failed")

    with pytest.raises(RuntimeError):
        storage.put_stream("b/failed.zip", broken())
    storage.put_stream(KEY, [b"again"])
    assert [item.key for item in storage.list_objects()] == [KEY]


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/etc/passwd",
        "../outside.zip",
        "a/../../outside.zip",
        "a/..",
        "a/./b.zip",
        ".hidden",
        "a/.dsar-x.tmp",
        "a//b.zip",
        "a/b/",
        "a\\b.zip",
        "a b.zip",
        "a/b?.zip",
        "caf\u00e9.zip",
        "a/b\n.zip",
        "x" * 256,
        "a/" * 600 + "b",
    ],
)
def test_invalid_keys_are_refused(storage: Storage, key: str) -> None:
    with pytest.raises(ValueError, match="key"):
        storage.put_stream(key, [b"data"])
    calls = (storage.exists, storage.delete, storage.open, storage.size, storage.discard_partial, storage.local_file)
    for call in calls:
        with pytest.raises(ValueError, match="key"):
            call(key)
    with pytest.raises(ValueError, match="key"):
        storage.signed_url(key, 60)
    assert storage.check_link(key, "9999999999", "c2lnbmF0dXJl", None) is LinkCheck.INVALID


def test_valid_keys_use_the_allowed_alphabet(storage: Storage) -> None:
    key = "A-Z_a-z/0.9/file.name-with_parts.tar.gz"
    storage.put_stream(key, [b"ok"])
    assert storage.exists(key)
    assert _read(storage, key) == b"ok"


def test_local_file_names_the_objects_file_or_is_none(storage: Storage, stored: StoredObject) -> None:
    file = storage.local_file(KEY)
    if file is None:
        return  # the adapter does not keep objects as files on this machine
    assert file.path.read_bytes() == CONTENT
    assert file.stat.st_size == len(CONTENT)
    storage.delete(KEY)
    with pytest.raises(NotFound):
        storage.local_file(KEY)


# -- links ---------------------------------------------------------------------------------------------


def test_link_parameters_are_checked(storage: Storage) -> None:
    with pytest.raises(ValueError, match="ttl"):
        storage.signed_url(KEY, 0)
    for bad in ("", "a/b.zip", "a\\b.zip", "line\nbreak.zip", "x" * 256):
        with pytest.raises(ValueError, match="file name"):
            storage.signed_url(KEY, 60, filename=bad)


def test_a_signed_link_downloads_the_exact_bytes_under_its_filename(
    storage: Storage, stored: StoredObject, fetch: Callable[..., httpx.Response]
) -> None:
    response = fetch(storage.signed_url(KEY, 60, filename="data_retrieval.zip"))
    assert response.status_code == 200
    assert response.content == CONTENT
    assert "data_retrieval.zip" in response.headers["content-disposition"]
    large = b"".join(_pattern(300_000))
    storage.put_stream("exports/large.bin", [large])
    assert fetch(storage.signed_url("exports/large.bin", 60)).content == large


def test_a_link_to_a_missing_object_finds_nothing(storage: Storage, fetch: Callable[..., httpx.Response]) -> None:
    assert fetch(storage.signed_url("privacyRequest/gone/result/data_retrieval.zip", 60)).status_code == 404
    storage.put_stream(KEY, [b"short-lived"])
    url = storage.signed_url(KEY, 60)
    storage.delete(KEY)
    assert fetch(url).status_code == 404


def test_check_link_judges_signature_and_expiry(adapter: Adapter, clock: FrozenClock) -> None:
    storage = adapter.storage
    url = storage.signed_url(KEY, 60, filename="my-data.zip")
    if not storage.capabilities.own_download_route:  # the object store checks its links; dsar's route takes none
        query = dict(parse_qsl(urlsplit(url).query))
        assert storage.check_link(KEY, "9999999999", query["X-Amz-Signature"], "my-data.zip") is LinkCheck.INVALID
        return
    parts = urlsplit(url)
    assert url.startswith(f"{PUBLIC_URL}/files/{KEY}?expires=")
    query = dict(parse_qsl(parts.query))
    assert int(query["expires"]) == int(clock.now().timestamp()) + 60

    def verdict(expires: int | str, signature: str, filename: str | None, on: Storage = storage) -> LinkCheck:
        return on.check_link(KEY, expires, signature, filename)

    assert verdict(query["expires"], query["signature"], "my-data.zip") is LinkCheck.VALID
    assert verdict(int(query["expires"]), query["signature"], "my-data.zip") is LinkCheck.VALID
    assert verdict(query["expires"], query["signature"], None) is LinkCheck.INVALID
    assert verdict(query["expires"], query["signature"], "other.zip") is LinkCheck.INVALID
    assert verdict(int(query["expires"]) + 1, query["signature"], "my-data.zip") is LinkCheck.INVALID
    assert verdict(query["expires"], "\u00e9" * 43, "my-data.zip") is LinkCheck.INVALID
    other = adapter.build(b"another key")
    assert verdict(query["expires"], query["signature"], "my-data.zip", other) is LinkCheck.INVALID
    clock.advance(timedelta(seconds=60))
    assert verdict(query["expires"], query["signature"], "my-data.zip") is LinkCheck.VALID
    clock.advance(timedelta(seconds=1))
    assert verdict(query["expires"], query["signature"], "my-data.zip") is LinkCheck.EXPIRED


def test_presigned_puts_are_bound_to_size_and_type_or_not_offered(storage: Storage) -> None:
    body = b"email\njane.doe@example.com\n"
    if not storage.capabilities.presigned_put:
        with pytest.raises(NotImplementedError):
            storage.signed_put_url("uploads/f.csv", 60, size=len(body), content_type="text/csv")
        return
    url = storage.signed_put_url("uploads/f.csv", 60, size=len(body), content_type="text/csv")
    ok = httpx.put(url, content=body, headers={"Content-Type": "text/csv"})
    assert ok.status_code == 200, ok.text
    assert _read(storage, "uploads/f.csv") == body
    assert storage.size("uploads/f.csv") == len(body)
