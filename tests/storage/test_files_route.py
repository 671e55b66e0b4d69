"""The signed `/files/` route (dsar.api.rest.files) over local storage, and over memory, with real HTTP."""

from __future__ import annotations

import hashlib
import os
import time
import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from tests.live import loopback_server

from dsar.api.rest.files import files_router
from dsar.kit.clock import FrozenClock
from dsar.storage.base import StoredObject
from dsar.storage.local import LocalStorage
from dsar.storage.memory import MemoryStorage

with warnings.catch_warnings():
    # Starlette 1.x warns when its TestClient runs on `httpx` instead of `httpx2`; the API is the same.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

KEY = "privacyRequest/6f1c2a9e-3a43-4a8e-9c1e-0d6f4f1b2c3d/result/data_retrieval.zip"
PUBLIC_URL = "https://dsar.example.test"
SIGNING_KEY = b"k" * 32
CONTENT = bytes(range(256)) * 16  # 4096 bytes, every offset is recognisable


def _chunks(data: bytes, size: int = 1000) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _relative(url: str) -> str:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == PUBLIC_URL
    return f"{parts.path}?{parts.query}"


def _with_param(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query[name] = value
    return f"{parts.path}?{urlencode(query)}"


def _tweak(text: str) -> str:
    """The same text with its first character changed."""
    return ("B" if text[0] == "A" else "A") + text[1:]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def storage(tmp_path: Path, clock: FrozenClock) -> LocalStorage:
    return LocalStorage(tmp_path / "objects", public_url=PUBLIC_URL + "/", signing_key=SIGNING_KEY, clock=clock)


@pytest.fixture
def client(storage: LocalStorage) -> TestClient:
    app = FastAPI()
    app.include_router(files_router(storage))
    return TestClient(app)


@pytest.fixture
def stored(storage: LocalStorage) -> StoredObject:
    return storage.put_stream(KEY, _chunks(CONTENT), content_type="application/zip")


# -- the route -----------------------------------------------------------------------------------------

ACCESS_EXPIRED = {"error": "AccessDenied", "message": "The link has expired."}
ACCESS_INVALID = {"error": "AccessDenied", "message": "The link signature is not valid."}


def test_a_valid_link_downloads_the_exact_bytes(
    storage: LocalStorage, client: TestClient, stored: StoredObject
) -> None:
    response = client.get(_relative(storage.signed_url(KEY, 60)))
    assert response.status_code == 200
    assert response.content == CONTENT
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-length"] == str(len(CONTENT))
    assert response.headers["content-disposition"] == 'attachment; filename="data_retrieval.zip"'
    assert response.headers["cache-control"] == "private, no-store"
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["etag"].startswith('"')
    assert "last-modified" in response.headers


def test_the_link_filename_names_the_download(storage: LocalStorage, client: TestClient) -> None:
    storage.put_stream("exports/x.json", [b'{"a": 1}'])
    response = client.get(_relative(storage.signed_url("exports/x.json", 60, filename="my data.json")))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-disposition"] == 'attachment; filename="my data.json"'
    unicode_url = storage.signed_url("exports/x.json", 60, filename="Daten-\u00fcber-mich.json")
    response = client.get(_relative(unicode_url))
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"Daten-_ber-mich.json\"; filename*=UTF-8''Daten-%C3%BCber-mich.json"
    )
    tampered = _with_param(storage.signed_url("exports/x.json", 60, filename="a.json"), "filename", "b.json")
    assert client.get(tampered).status_code == 403


def test_an_expired_link_is_refused(
    storage: LocalStorage, client: TestClient, clock: FrozenClock, stored: StoredObject
) -> None:
    url = _relative(storage.signed_url(KEY, 60))
    clock.advance(timedelta(seconds=59))
    assert client.get(url).status_code == 200
    clock.advance(timedelta(seconds=2))
    response = client.get(url)
    assert response.status_code == 403
    assert response.json() == ACCESS_EXPIRED
    assert response.headers["cache-control"] == "private, no-store"
    assert client.head(url).status_code == 403


def test_altered_links_are_refused(storage: LocalStorage, client: TestClient, stored: StoredObject) -> None:
    other_key = "privacyRequest/00000000-0000-4000-8000-000000000000/result/data_retrieval.zip"
    storage.put_stream(other_key, [b"someone else's archive"])
    url = storage.signed_url(KEY, 60)
    query = dict(parse_qsl(urlsplit(url).query))
    altered = [
        _with_param(url, "signature", _tweak(query["signature"])),
        _with_param(url, "signature", query["signature"][:-1]),
        _with_param(url, "signature", "\u00e9" * len(query["signature"])),
        _with_param(url, "signature", ""),
        _with_param(url, "expires", str(int(query["expires"]) + 3600)),
        _with_param(url, "expires", "0" + query["expires"]),
        _with_param(url, "expires", "soon"),
        f"/files/{other_key}?{urlsplit(url).query}",
        f"/files/{KEY}?expires={query['expires']}",
        f"/files/{KEY}?signature={query['signature']}",
        f"/files/{KEY}",
        f"/files/privacyRequest/%2e%2e/%2e%2e/etc/passwd?{urlsplit(url).query}",
        f"/files/privacyRequest%2F..%2F..%2Fetc%2Fpasswd?{urlsplit(url).query}",
    ]
    for path in altered:
        response = client.get(path)
        assert response.status_code == 403, path
        assert response.json() == ACCESS_INVALID, path
        assert client.head(path).status_code == 403, path


def test_a_valid_link_to_a_missing_object_is_not_found(storage: LocalStorage, client: TestClient) -> None:
    response = client.get(_relative(storage.signed_url("privacyRequest/gone/result/data_retrieval.zip", 60)))
    assert response.status_code == 404
    assert response.json() == {"error": "NotFound", "message": "The requested file does not exist."}
    storage.put_stream(KEY, [b"short-lived"])
    url = _relative(storage.signed_url(KEY, 60))
    storage.delete(KEY)
    assert client.get(url).status_code == 404


def test_a_range_request_gets_206_and_the_right_bytes(
    storage: LocalStorage, client: TestClient, stored: StoredObject
) -> None:
    url = _relative(storage.signed_url(KEY, 60))
    response = client.get(url, headers={"Range": "bytes=100-199"})
    assert response.status_code == 206
    assert response.content == CONTENT[100:200]
    assert response.headers["content-range"] == f"bytes 100-199/{len(CONTENT)}"
    assert response.headers["content-length"] == "100"
    assert response.headers["cache-control"] == "private, no-store"


def test_a_resumed_download_gets_the_tail(storage: LocalStorage, client: TestClient, stored: StoredObject) -> None:
    url = _relative(storage.signed_url(KEY, 60))
    response = client.get(url, headers={"Range": "bytes=1000-"})
    assert response.status_code == 206
    assert response.content == CONTENT[1000:]
    assert response.headers["content-range"] == f"bytes 1000-{len(CONTENT) - 1}/{len(CONTENT)}"
    response = client.get(url, headers={"Range": "bytes=-96"})
    assert response.status_code == 206
    assert response.content == CONTENT[-96:]


def test_an_unsatisfiable_range_is_416(storage: LocalStorage, client: TestClient, stored: StoredObject) -> None:
    url = _relative(storage.signed_url(KEY, 60))
    for value in (f"bytes={len(CONTENT)}-", f"bytes={len(CONTENT) + 10}-{len(CONTENT) + 20}", "bytes=-0"):
        response = client.get(url, headers={"Range": value})
        assert response.status_code == 416, value
        assert response.headers["content-range"] == f"bytes */{len(CONTENT)}"
        assert response.headers["cache-control"] == "private, no-store"


def test_invalid_ranges_are_ignored_and_partly_satisfiable_ones_served(
    storage: LocalStorage, client: TestClient, stored: StoredObject
) -> None:
    url = _relative(storage.signed_url(KEY, 60))
    for value in ("items=0-10", "bytes=200-100", "bytes=abc", "bytes=", "bytes 0-10"):
        response = client.get(url, headers={"Range": value})
        assert response.status_code == 200, value
        assert response.content == CONTENT
    response = client.get(url, headers={"Range": f"bytes=0-9, {len(CONTENT) + 5}-"})
    assert response.status_code == 206
    assert response.content == CONTENT[:10]
    response = client.get(url, headers={"Range": "bytes=0-9,20-29"})
    assert response.status_code == 206
    assert response.headers["content-type"].startswith("multipart/byteranges; boundary=")
    assert CONTENT[:10] in response.content
    assert CONTENT[20:30] in response.content


def test_etag_and_conditional_requests(storage: LocalStorage, client: TestClient, stored: StoredObject) -> None:
    url = _relative(storage.signed_url(KEY, 60))
    first = client.get(url)
    etag = first.headers["etag"]
    not_modified = client.get(url, headers={"If-None-Match": etag})
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified.headers["etag"] == etag
    assert not_modified.headers["cache-control"] == "private, no-store"
    assert client.get(url, headers={"If-None-Match": f'"other", W/{etag}'}).status_code == 304
    assert client.get(url, headers={"If-None-Match": "*"}).status_code == 304
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    last_modified = first.headers["last-modified"]
    assert client.get(url, headers={"If-Modified-Since": last_modified}).status_code == 304
    assert client.get(url, headers={"If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"}).status_code == 200
    assert client.get(url, headers={"If-Modified-Since": "not a date"}).status_code == 200

    resumed = client.get(url, headers={"Range": "bytes=1000-", "If-Range": etag})
    assert resumed.status_code == 206
    assert resumed.content == CONTENT[1000:]
    storage.put_stream(KEY, [b"replaced archive"])
    os.utime(storage.path(KEY), (time.time() + 5, time.time() + 5))
    stale = client.get(url, headers={"Range": "bytes=1000-", "If-Range": etag})
    assert stale.status_code == 200
    assert stale.content == b"replaced archive"
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 200


def test_head_answers_the_headers_only(storage: LocalStorage, client: TestClient, stored: StoredObject) -> None:
    url = _relative(storage.signed_url(KEY, 60))
    response = client.head(url)
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(len(CONTENT))
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["accept-ranges"] == "bytes"
    ranged = client.head(url, headers={"Range": "bytes=100-199"})
    assert ranged.status_code == 206
    assert ranged.headers["content-range"] == f"bytes 100-199/{len(CONTENT)}"


# -- a real socket -------------------------------------------------------------------------------------


@pytest.fixture
def live_server(storage: LocalStorage) -> Iterator[str]:
    app = FastAPI()
    app.include_router(files_router(storage))
    with loopback_server(lambda _base: app, lifespan="off", loop="asyncio") as base:
        yield base


def test_a_large_download_in_two_ranges_over_a_real_socket(storage: LocalStorage, live_server: str) -> None:
    original = os.urandom(5 * 1024 * 1024 + 123)
    stored = storage.put_stream(KEY, _chunks(original, 256 * 1024))
    url = live_server + _relative(storage.signed_url(KEY, 60))
    middle = len(original) // 2 + 7
    received = hashlib.sha256()
    with httpx.Client(timeout=30) as http:
        head = http.head(url)
        assert head.status_code == 200
        assert head.headers["content-length"] == str(len(original))
        first = http.get(url, headers={"Range": f"bytes=0-{middle - 1}"})
        assert first.status_code == 206
        assert first.headers["content-range"] == f"bytes 0-{middle - 1}/{len(original)}"
        received.update(first.content)
        with http.stream("GET", url, headers={"Range": f"bytes={middle}-", "If-Range": head.headers["etag"]}) as rest:
            assert rest.status_code == 206
            assert rest.headers["content-range"] == f"bytes {middle}-{len(original) - 1}/{len(original)}"
            for chunk in rest.iter_bytes():
                received.update(chunk)
        assert received.hexdigest() == stored.sha256 == hashlib.sha256(original).hexdigest()
        denied = http.get(live_server + _with_param(url, "signature", "x"), headers={"Range": "bytes=0-"})
        assert denied.status_code == 403
        assert denied.json() == ACCESS_INVALID


# -- an object that is not a file here (the memory adapter) --------------------------------------------


@pytest.fixture
def memory(clock: FrozenClock) -> MemoryStorage:
    return MemoryStorage(public_url=PUBLIC_URL, signing_key=SIGNING_KEY, clock=clock)


@pytest.fixture
def memory_client(memory: MemoryStorage) -> TestClient:
    app = FastAPI()
    app.include_router(files_router(memory))
    return TestClient(app)


def test_an_object_that_is_not_a_file_is_streamed_with_ranges(memory: MemoryStorage, memory_client: TestClient) -> None:
    memory.put_stream(KEY, _chunks(CONTENT), content_type="application/zip")
    url = _relative(memory.signed_url(KEY, 60, filename="my data.zip"))
    whole = memory_client.get(url)
    assert whole.status_code == 200
    assert whole.content == CONTENT
    assert whole.headers["content-type"] == "application/zip"
    assert whole.headers["content-length"] == str(len(CONTENT))
    assert whole.headers["content-disposition"] == 'attachment; filename="my data.zip"'
    assert whole.headers["cache-control"] == "private, no-store"
    assert whole.headers["x-content-type-options"] == "nosniff"
    assert whole.headers["accept-ranges"] == "bytes"
    part = memory_client.get(url, headers={"Range": "bytes=100-199"})
    assert (part.status_code, part.content) == (206, CONTENT[100:200])
    assert part.headers["content-range"] == f"bytes 100-199/{len(CONTENT)}"
    assert memory_client.get(url, headers={"Range": "bytes=-10"}).content == CONTENT[-10:]
    several = memory_client.get(url, headers={"Range": "bytes=0-1,5-6"})  # several ranges: sent whole
    assert (several.status_code, several.content) == (200, CONTENT)
    resumed = memory_client.get(url, headers={"Range": "bytes=100-", "If-Range": '"x"'})  # no validator: whole
    assert (resumed.status_code, resumed.content) == (200, CONTENT)
    beyond = memory_client.get(url, headers={"Range": f"bytes={len(CONTENT)}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(CONTENT)}"
    head = memory_client.head(url, headers={"Range": "bytes=0-9"})
    assert (head.status_code, head.content, head.headers["content-length"]) == (206, b"", "10")


def test_memory_links_are_judged_like_local_ones(
    memory: MemoryStorage, memory_client: TestClient, clock: FrozenClock
) -> None:
    memory.put_stream(KEY, [b"archive"])
    url = memory.signed_url(KEY, 60)
    denied = memory_client.get(_with_param(url, "signature", _tweak(dict(parse_qsl(urlsplit(url).query))["signature"])))
    assert denied.status_code == 403
    assert denied.json() == ACCESS_INVALID
    clock.advance(timedelta(seconds=61))
    expired = memory_client.get(_relative(url))
    assert expired.status_code == 403
    assert expired.json() == ACCESS_EXPIRED
    clock.advance(timedelta(seconds=-61))
    memory.delete(KEY)
    missing = memory_client.get(_relative(url))
    assert missing.status_code == 404
    assert missing.json() == {"error": "NotFound", "message": "The requested file does not exist."}
