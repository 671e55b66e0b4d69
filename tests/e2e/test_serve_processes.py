"""`dsar serve --processes 2`: two server processes on one port, one state database (B6 in docs/performance.md)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

DSAR = [sys.executable, "-m", "dsar"]
START = 'mutation { startPersonalDataRetrievalTask(input: {dataSubject: {type: SHOPPER, email: "%s"}}) { taskId } }'
STATUS = 'query { personalDataRetrievalTask(taskId: "%s") { status dataRetrievalLink } }'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_processes_share_the_port_the_state_and_the_work(tmp_path: Path, demo_dir: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSAR_")}
    env.update(
        DSAR_DATA_DIR=str(tmp_path / "state"),
        DSAR_DATAMAP=str(demo_dir / "datamap.yaml"),
        DSAR_PUBLIC_URL=base,
        DSAR_SECRET_KEY="processes-test-secret-key-0123456789abcdef",
        DSAR_LOG_LEVEL="WARNING",
    )
    made = subprocess.run(
        [*DSAR, "clients", "create", "--name", "t", "--scope", "privacy:manage", "--json"],
        env=env,
        check=True,
        capture_output=True,
    )
    creds = json.loads(made.stdout)
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [*DSAR, "serve", "--port", str(port), "--processes", "2"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            deadline = time.monotonic() + 60
            while True:
                assert server.poll() is None, (tmp_path / "serve.log").read_text()
                try:
                    if http.get("/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "dsar serve --processes 2 did not start"
                time.sleep(0.2)
            children = subprocess.run(
                ["ps", "-o", "args=", "--ppid", str(server.pid)], capture_output=True, text=True
            ).stdout
            assert children.count("multiprocessing.spawn") == 2, children
            token = http.post("/token", data={"grant_type": "client_credentials", **creds}).json()["access_token"]
            http.headers["Authorization"] = f"Bearer {token}"
            ids = []
            for email in ("jane.doe@example.com", "JANE.DOE@example.com ", "jane.doe@example.com"):
                r = http.post("/graphql", json={"query": START % email})
                ids.append(r.json()["data"]["startPersonalDataRetrievalTask"]["taskId"])
            for task_id in ids:
                for _ in range(600):
                    task = http.post("/graphql", json={"query": STATUS % task_id}).json()["data"]
                    if task["personalDataRetrievalTask"]["status"] != "IN_PROGRESS":
                        break
                    time.sleep(0.05)
                assert task["personalDataRetrievalTask"]["status"] == "COMPLETED", task
                link = task["personalDataRetrievalTask"]["dataRetrievalLink"]
                archive = httpx.get(link, timeout=30)
                assert archive.status_code == 200 and archive.content[:2] == b"PK"
    finally:
        server.terminate()
        server.wait(30)
        log.close()
    assert server.returncode == 0, (tmp_path / "serve.log").read_text()
