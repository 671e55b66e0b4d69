"""Distributed mode: the API sends task ids to Celery on the real Redis and RabbitMQ; `dsar worker` processes run them.

A worker killed with SIGKILL mid-task loses nothing: its message is delivered again (late acknowledgement)
or the sweeper re-sends the task once its lease expires, and the task completes exactly once.
"""

from __future__ import annotations

import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.harness import running_api, settings_for
from tests.conftest import need

BROKERS = {"redis": "redis://127.0.0.1:6379/15", "rabbitmq": "amqp://guest:guest@127.0.0.1:5672//"}
SECRET = "test-secret-key-not-for-production"


def _emails(demo: Path, n: int) -> list[str]:
    with sqlite3.connect(demo / "shop.sqlite") as db:
        return [r[0] for r in db.execute("SELECT email FROM customers ORDER BY id LIMIT ?", (n,))]


class Workers:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log, self.procs = env, log, []  # type: list[subprocess.Popen[bytes]]

    def start(self) -> subprocess.Popen[bytes]:
        with open(self.log, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "dsar", "worker"], env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture(params=sorted(BROKERS))
def broker(request: pytest.FixtureRequest) -> str:
    need(str(request.param))
    return BROKERS[str(request.param)]


@pytest.fixture
def workers(tmp_path: Path, demo_dir: Path, broker: str) -> Iterator[tuple[Workers, dict[str, object]]]:
    queue = "dsar-t-" + secrets.token_hex(6)
    overrides: dict[str, object] = {
        "jobs": "celery",
        "broker_url": broker,
        "job": {"queue": queue, "lease_seconds": 2, "poll_seconds": 0.2, "sweep_seconds": 1},
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSAR_")}
    env.update(
        DSAR_DATA_DIR=str(tmp_path / "state"),
        DSAR_DATAMAP=str(demo_dir / "datamap.yaml"),
        DSAR_SECRET_KEY=SECRET,
        DSAR_PUBLIC_URL="http://testserver",
        DSAR_JOBS="celery",
        DSAR_BROKER_URL=broker,
        DSAR_JOB__QUEUE=queue,
        DSAR_JOB__LEASE_SECONDS="2",
        DSAR_JOB__POLL_SECONDS="0.2",
        DSAR_JOB__SWEEP_SECONDS="1",
    )
    w = Workers(env, tmp_path / "workers.log")
    try:
        yield w, overrides
    finally:
        w.stop()


@pytest.mark.slow
def test_tasks_complete_on_celery_workers_across_a_sigkill(
    workers: tuple[Workers, dict[str, object]], tmp_path: Path, demo_dir: Path
) -> None:
    w, overrides = workers
    with running_api(settings_for(tmp_path, demo_dir, **overrides)) as api:  # migrates the state DB first
        first, _second = w.start(), w.start()
        ids = [api.start(e) for e in _emails(demo_dir, 30)]
        time.sleep(0.3)
        os.kill(first.pid, signal.SIGKILL)  # mid-run: its message or lease must not be lost
        first.wait(10)
        w.start()
        done = [api.wait(tid, timeout=90) for tid in ids]
        assert [t["status"] for t in done] == ["COMPLETED"] * len(ids), (tmp_path / "workers.log").read_text()[-3000:]
        with api.container.db.engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT status, count(*) FROM privacy_tasks GROUP BY status").all()
        assert rows == [("COMPLETED", len(ids))]
        objects = list((tmp_path / "state" / "objects" / "privacyRequest").glob("*/result/*"))
        assert sorted(p.name for p in objects) == ["data_retrieval.zip"] * len(ids)
