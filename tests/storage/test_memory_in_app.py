"""The memory adapter plugged into the whole app: the faces mount routes by the adapter's capabilities alone.

Memory storage neither presigns PUTs nor keeps files: the app mounts dsar's `/uploads/` and `/files/`
routes for it (as for local files), uploads land in memory, and download links are served from memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from tests.api.files import CREATE, DOWNLOAD
from tests.api.harness import settings_for
from tests.live import loopback_server

from dsar.api.app import create_app
from dsar.bootstrap import Container
from dsar.storage.memory import MemoryStorage

pytestmark = pytest.mark.local_stack  # the test chooses its own storage


@pytest.fixture
def live(tmp_path: Path, demo_dir: Path) -> Iterator[tuple[str, Container, str]]:
    made: list[Container] = []

    def app_for(base: str) -> FastAPI:
        container = Container(settings_for(tmp_path, demo_dir, public_url=base))
        container.storage = MemoryStorage(public_url=base, signing_key=b"m" * 32, clock=container.clock)
        made.append(container)
        return create_app(container)

    try:
        with loopback_server(app_for, loop="asyncio") as base:
            container = made[0]
            cid, secret = container.auth.create_client("memory", ["files:manage"])
            r = httpx.post(
                f"{base}/token", data={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret}
            )
            yield base, container, r.json()["access_token"]
    finally:
        for c in made:
            c.close()


def test_an_upload_and_its_download_go_through_dsars_routes_into_memory(live: tuple[str, Container, str]) -> None:
    base, container, token = live
    storage = container.storage
    assert isinstance(storage, MemoryStorage)
    auth = {"Authorization": f"Bearer {token}"}
    content = b"email\njane.doe@example.com\njohn.roe@example.com\n"
    link = httpx.post(f"{base}/graphql", json={"query": CREATE % len(content)}, headers=auth).json()
    url, file_id = link["data"]["createUploadLink"]["uploadUrl"], link["data"]["createUploadLink"]["fileId"]
    assert url.startswith(f"{base}/uploads/{file_id}?")
    put = httpx.put(url, content=content, headers={"Content-Type": "text/csv"})
    assert put.status_code == 200, put.text
    assert storage.keys() == [f"uploads/{file_id}.csv"]
    assert storage.get(f"uploads/{file_id}.csv").data == content
    assert not (container.settings.data_dir / "objects").exists()  # nothing went to local files

    answer = httpx.post(f"{base}/graphql", json={"query": DOWNLOAD % file_id}, headers=auth).json()
    download = answer["data"]["downloadLink"]["downloadUrl"]
    assert download.startswith(f"{base}/files/uploads/{file_id}.csv?")
    got = httpx.get(download)
    assert got.status_code == 200
    assert got.content == content
    assert got.headers["content-disposition"] == f'attachment; filename="{file_id}.csv"'
    assert got.headers["cache-control"] == "private, no-store"
    tampered = httpx.get(download.replace("signature=", "signature=x"))
    assert tampered.status_code == 403
