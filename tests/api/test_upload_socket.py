"""Uploads as curl does them: a real uvicorn on a real socket, PUTs with httpx and a raw socket."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI

from dsar.api.app import create_app
from dsar.bootstrap import Container
from tests.api.files import CREATE, stored_upload
from tests.api.harness import settings_for
from tests.live import loopback_server

pytestmark = pytest.mark.local_stack  # uploads to the local /uploads route, files under the data dir


@dataclass
class Live:
    base: str
    container: Container
    token: str

    def gql(self, query: str) -> dict[str, object]:
        r = httpx.post(f"{self.base}/graphql", json={"query": query}, headers={"Authorization": f"Bearer {self.token}"})
        return dict(r.json())

    def link(self, size: int) -> tuple[str, str]:
        body = self.gql(CREATE % size)
        link = body["data"]["createUploadLink"]  # type: ignore[index]
        return str(link["uploadUrl"]), str(link["fileId"])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path) -> Iterator[Live]:
    made: list[Container] = []

    def app_for(base: str) -> FastAPI:
        made.append(Container(settings_for(tmp_path_factory.mktemp("live"), demo_dir, public_url=base)))
        return create_app(made[0])

    try:
        with loopback_server(app_for, loop="asyncio") as base:
            container = made[0]
            cid, secret = container.auth.create_client("live", ["files:manage", "privacy:manage"])
            r = httpx.post(
                f"{base}/token", data={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret}
            )
            yield Live(base, container, r.json()["access_token"])
    finally:
        for c in made:
            c.close()


def _csv(nbytes: int) -> bytes:
    lines = [b"email"]
    size = 6
    n = 0
    while size < nbytes:
        line = f"user{n:07d}@example.com".encode()
        lines.append(line)
        size += len(line) + 1
        n += 1
    return (b"\n".join(lines) + b"\n")[:nbytes]


def test_a_put_of_several_megabytes_with_the_exact_size(live: Live) -> None:
    content = _csv(5 * 1024 * 1024 + 7)
    url, file_id = live.link(len(content))
    assert url.startswith(f"{live.base}/uploads/{file_id}?")
    r = httpx.put(url, content=content, headers={"Content-Type": "text/csv"})
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == f'"{hashlib.md5(content, usedforsecurity=False).hexdigest()}"'
    assert stored_upload(live.container, file_id) == content
    second = httpx.put(url, content=content, headers={"Content-Type": "text/csv"})
    assert second.status_code == 409


def test_a_wrong_size_is_refused_before_the_body(live: Live) -> None:
    url, _ = live.link(1000)
    r = httpx.put(url, content=_csv(999), headers={"Content-Type": "text/csv"})
    assert r.status_code == 400 and r.json()["error"] == "ContentLengthMismatch"
    r = httpx.put(url, content=_csv(1001), headers={"Content-Type": "text/csv"})
    assert r.status_code == 413 and r.json()["error"] == "EntityTooLarge"
    assert httpx.put(url, content=_csv(1000), headers={"Content-Type": "text/csv"}).status_code == 200


def test_a_connection_lost_mid_body_stores_nothing_and_the_link_still_works(live: Live) -> None:
    content = _csv(200_000)
    url, file_id = live.link(len(content))
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port)) as s:
        s.sendall(
            f"PUT {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: text/csv\r\n"
            f"Content-Length: {len(content)}\r\n\r\n".encode()
            + content[:50_000]
        )
        time.sleep(0.2)
    folder = live.container.settings.data_dir / "objects" / "uploads"
    deadline = time.monotonic() + 5
    while True:  # the server notices the disconnect, releases the link and removes its temp file
        r = httpx.put(url, content=content, headers={"Content-Type": "text/csv"})
        if r.status_code != 409 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert r.status_code == 200, r.text
    assert [p.name for p in folder.iterdir() if file_id in p.name] == [f"{file_id}.csv"]
    assert stored_upload(live.container, file_id) == content


def test_binary_over_a_socket(live: Live) -> None:
    content = os.urandom(4096)
    url, _ = live.link(len(content))
    r = httpx.put(url, content=content, headers={"Content-Type": "text/csv"})
    assert r.status_code == 422 and r.json()["error"] == "InvalidFile"


def test_a_second_put_while_the_first_streams_is_refused(live: Live) -> None:
    content = _csv(100_000)
    url, file_id = live.link(len(content))
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port)) as s:
        s.sendall(
            f"PUT {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: text/csv\r\n"
            f"Content-Length: {len(content)}\r\nConnection: close\r\n\r\n".encode()
            + content[:10_000]
        )
        deadline = time.monotonic() + 5
        while True:  # once the first PUT holds the link, a second one is turned away
            second = httpx.put(url, content=content, headers={"Content-Type": "text/csv"})
            if second.status_code == 409 or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert second.status_code == 409 and second.json()["error"] == "UploadInProgress"
        s.sendall(content[10_000:])
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert stored_upload(live.container, file_id) == content
