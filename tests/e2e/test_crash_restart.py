"""kill -9 of the real server in the middle of a task; after a restart the task completes, exactly once."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROWS = 400_000
EMAIL = "big.subject@example.com"
DATAMAP = """
sources:
  big: {url: "sqlite:///${DATAMAP_DIR}/big.sqlite"}
collections:
  big.customers:
    primary_key: [id]
    identities: {email: {column: email}}
    processing: {purpose: Accounts, legal_basis: "Art. 6(1)(b) GDPR", retention: "Account lifetime"}
  big.events:
    primary_key: [id]
    references: [{column: customer_id, to: big.customers.id}]
    processing: {purpose: Analytics, legal_basis: "Art. 6(1)(f) GDPR", retention: "2 years"}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def big_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("big")
    db = sqlite3.connect(d / "big.sqlite")
    db.executescript("""
        CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT NOT NULL);
        CREATE INDEX ix_customers_email ON customers (lower(trim(email)));
        CREATE TABLE events (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id),
                             kind TEXT, detail TEXT, occurred_at DATETIME);
        CREATE INDEX ix_events_customer ON events (customer_id);
    """)
    db.executemany("INSERT INTO customers VALUES (?, ?)", [(1, EMAIL), (2, "someone.else@example.com")])
    db.executemany(
        "INSERT INTO events VALUES (?, ?, ?, ?, ?)",
        (
            (
                i,
                1 if i % 10 else 2,
                "page_view",
                f"/products/{i % 977}?ref=newsletter-{i % 13}",
                f"2026-{1 + i % 12:02d}-{1 + i % 28:02d} 12:{i % 60:02d}:00",
            )
            for i in range(1, ROWS + 1)
        ),
    )
    db.commit()
    db.close()
    (d / "datamap.yaml").write_text(DATAMAP)
    return d


class Server:
    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env, self.port, self.log = env, port, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "dsar", "serve", "--port", str(self.port)],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("server did not start:\n" + self.log.read_text())

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)


@pytest.fixture
def env(tmp_path: Path, big_source: Path) -> Iterator[dict[str, str]]:
    port = _free_port()
    e = {k: v for k, v in os.environ.items() if not k.startswith("DSAR_")}
    e.update(
        DSAR_DATA_DIR=str(tmp_path / "state"),
        DSAR_DATAMAP=str(big_source / "datamap.yaml"),
        DSAR_SECRET_KEY="crash-test-secret-key-0123456789abcdef",
        DSAR_PUBLIC_URL=f"http://127.0.0.1:{port}",
        DSAR_JOB__LEASE_SECONDS="2",
        DSAR_JOB__POLL_SECONDS="0.2",
        DSAR_PORT=str(port),
    )
    yield e


def _task_row(state: Path, task_id: str) -> tuple[str, str | None, int]:
    db = sqlite3.connect(state / "dsar.sqlite3", timeout=10)
    try:
        row = db.execute("SELECT status, lease_owner, attempts FROM privacy_tasks WHERE id = ?", (task_id,)).fetchone()
    finally:
        db.close()
    return str(row[0]), row[1], int(row[2])


@pytest.mark.slow
def test_kill_9_mid_task_then_restart_completes_once(env: dict[str, str], tmp_path: Path) -> None:
    port = int(env["DSAR_PORT"])
    base = f"http://127.0.0.1:{port}"
    created = subprocess.run(
        [sys.executable, "-m", "dsar", "clients", "create", "--name", "crash", "--scope", "privacy:manage", "--json"],
        env=env,
        capture_output=True,
        check=True,
    )
    creds = json.loads(created.stdout)
    server = Server(env, port, tmp_path / "server.log")
    server.start()
    try:
        token = httpx.post(f"{base}/token", data={"grant_type": "client_credentials", **creds}).json()["access_token"]
        h = {"Authorization": f"Bearer {token}"}
        q = (
            'mutation { startPersonalDataRetrievalTask(input: {dataSubject: {type: SHOPPER, email: "%s"}}) '
            "{ taskId } }" % EMAIL
        )
        task_id = httpx.post(f"{base}/graphql", json={"query": q}, headers=h).json()["data"][
            "startPersonalDataRetrievalTask"
        ]["taskId"]
        state = Path(env["DSAR_DATA_DIR"])
        deadline = time.monotonic() + 20
        while _task_row(state, task_id)[1] is None:
            assert time.monotonic() < deadline, "the task was never claimed"
            time.sleep(0.05)
        time.sleep(0.5)  # well inside the walk / archive writing
        status, owner, attempts = _task_row(state, task_id)
        assert (status, attempts) == ("IN_PROGRESS", 1) and owner
        server.kill9()
        assert _task_row(state, task_id)[0] == "IN_PROGRESS"

        server.start()
        query = 'query { personalDataRetrievalTask(taskId: "%s") { status dataRetrievalLink errors { code } } }'
        deadline = time.monotonic() + 90
        while True:
            token = httpx.post(f"{base}/token", data={"grant_type": "client_credentials", **creds}).json()[
                "access_token"
            ]
            task = httpx.post(
                f"{base}/graphql", json={"query": query % task_id}, headers={"Authorization": f"Bearer {token}"}
            ).json()["data"]["personalDataRetrievalTask"]
            if task["status"] != "IN_PROGRESS":
                break
            assert time.monotonic() < deadline, "the task did not complete after the restart"
            time.sleep(0.2)
        assert task["status"] == "COMPLETED", task
        status, owner, attempts = _task_row(state, task_id)
        assert (status, owner, attempts) == ("COMPLETED", None, 2)
        result_dir = state / "objects" / "privacyRequest" / task_id / "result"
        assert sorted(p.name for p in result_dir.iterdir()) == ["data_retrieval.zip"]
        archive = tmp_path / "download.zip"
        archive.write_bytes(httpx.get(task["dataRetrievalLink"]).content)
        with zipfile.ZipFile(archive) as zf:
            manifest = json.loads(zf.read("manifest.json"))
            records = {f["path"]: f["records"] for f in manifest["files"] if f["path"].endswith(".json")}
            assert records["data/big/events.json"] == ROWS - ROWS // 10
            assert records["data/big/customers.json"] == 1
        assert "big.subject@example.com" not in (tmp_path / "server.log").read_text()
    finally:
        server.stop()
