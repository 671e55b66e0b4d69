"""Range requests of the `/files` route over a real socket, around the route's 1 MiB read size (B7).

A running uvicorn server (httptools, as `dsar serve` runs) answers `Range` requests whose bounds fall on,
just before and just after the read-chunk boundaries; every answer's bytes are checked against the file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from tests.live import loopback_server

from dsar.api.rest.files import _DownloadResponse, files_router
from dsar.kit.clock import FrozenClock
from dsar.storage.local import LocalStorage

KEY = "privacyRequest/0b7e1f7c-98a4-4d55-8a55-2a4d0f3c9e11/result/data_retrieval.zip"
EXACT_KEY = "privacyRequest/0b7e1f7c-98a4-4d55-8a55-2a4d0f3c9e12/result/data_retrieval.zip"
CHUNK = _DownloadResponse.chunk_size
SIZE = 3 * CHUNK + 5  # three full reads and a short one
CONTENT = hashlib.shake_256(b"dsar-range").digest(SIZE)
EXACT = CONTENT[: 2 * CHUNK]  # a file of exactly two reads


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    store = LocalStorage(tmp_path / "objects", "http://unused.test", b"r" * 32, FrozenClock())
    store.put_stream(KEY, iter([CONTENT]))
    store.put_stream(EXACT_KEY, iter([EXACT]))
    return store


@pytest.fixture
def base(storage: LocalStorage) -> Iterator[str]:
    app = FastAPI()
    app.include_router(files_router(storage))
    with loopback_server(lambda _base: app, lifespan="off", http="httptools") as url:
        yield url


def _url(base: str, storage: LocalStorage, key: str = KEY) -> str:
    parts = urlsplit(storage.signed_url(key, 60))
    return f"{base}{parts.path}?{parts.query}"


def _spans() -> list[tuple[int, int]]:
    """(first, last) byte positions on, before and after every chunk boundary, and the whole file."""
    spans = [(0, 0), (0, SIZE - 1), (SIZE - 1, SIZE - 1), (0, CHUNK - 1), (CHUNK, 2 * CHUNK - 1)]
    for boundary in (CHUNK, 2 * CHUNK, 3 * CHUNK):
        spans += [(boundary - 1, boundary), (boundary - 3, boundary + 2), (1, boundary - 1), (boundary, SIZE - 1)]
    return spans


@pytest.mark.parametrize(("first", "last"), _spans())
def test_a_range_answers_206_with_exactly_those_bytes(storage: LocalStorage, base: str, first: int, last: int) -> None:
    with httpx.Client(timeout=30) as http:
        r = http.get(_url(base, storage), headers={"Range": f"bytes={first}-{last}"})
    assert r.status_code == 206
    assert r.headers["content-range"] == f"bytes {first}-{last}/{SIZE}"
    assert r.headers["content-length"] == str(last - first + 1)
    assert r.headers["cache-control"] == "private, no-store"
    assert r.content == CONTENT[first : last + 1]


def test_an_interrupted_download_resumes_with_an_open_range_and_if_range(storage: LocalStorage, base: str) -> None:
    url = _url(base, storage)
    cut = CHUNK + 12345
    got = bytearray()
    with httpx.Client(timeout=30) as http:
        with http.stream("GET", url) as r:
            assert r.status_code == 200
            assert r.headers["accept-ranges"] == "bytes"
            etag = r.headers["etag"]
            for chunk in r.iter_raw(4096):
                got += chunk
                if len(got) >= cut:
                    break  # the client drops the connection mid-body
        del got[cut:]
        with http.stream("GET", url, headers={"Range": f"bytes={len(got)}-", "If-Range": etag}) as rest:
            assert rest.status_code == 206
            assert rest.headers["content-range"] == f"bytes {cut}-{SIZE - 1}/{SIZE}"
            for chunk in rest.iter_raw():
                got += chunk
    assert bytes(got) == CONTENT


def test_a_suffix_range_gets_the_last_bytes(storage: LocalStorage, base: str) -> None:
    with httpx.Client(timeout=30) as http:
        r = http.get(_url(base, storage), headers={"Range": f"bytes=-{CHUNK + 1}"})
    assert r.status_code == 206
    assert r.headers["content-range"] == f"bytes {SIZE - CHUNK - 1}-{SIZE - 1}/{SIZE}"
    assert r.content == CONTENT[-(CHUNK + 1) :]


def test_a_file_of_whole_chunks_downloads_whole_and_in_ranges(storage: LocalStorage, base: str) -> None:
    url = _url(base, storage, EXACT_KEY)
    with httpx.Client(timeout=30) as http:
        whole = http.get(url)
        tail = http.get(url, headers={"Range": f"bytes={CHUNK}-"})
    assert whole.status_code == 200 and whole.content == EXACT
    assert tail.status_code == 206 and tail.content == EXACT[CHUNK:]
    assert tail.headers["content-range"] == f"bytes {CHUNK}-{2 * CHUNK - 1}/{2 * CHUNK}"


@pytest.mark.parametrize("value", [f"bytes={SIZE}-", f"bytes={SIZE + 10}-{SIZE + 20}", "bytes=-0"])
def test_an_unsatisfiable_range_is_416_with_the_size(storage: LocalStorage, base: str, value: str) -> None:
    with httpx.Client(timeout=30) as http:
        r = http.get(_url(base, storage), headers={"Range": value})
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{SIZE}"
    assert r.headers["cache-control"] == "private, no-store"
