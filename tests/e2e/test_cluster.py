"""The distributed topology under faults, with real processes: 2 API replicas, 2 Celery workers, PostgreSQL,
a private Redis broker and moto_server for S3 (tests/cluster.py, the same as `make cluster`).

Every scenario submits retrieval tasks through both replicas alternately, injects a fault while they run, and
checks that every task ends COMPLETED with exactly one archive object in the bucket and nothing IN_PROGRESS.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cluster import Cluster
from tests.conftest import need

pytestmark = pytest.mark.slow

CHAOS_TASKS = 200  # tasks of the SIGKILL chaos run (2 cores: keep it modest)
CHAOS_SECONDS = 24  # submissions are spread over this long, so the kills hit running tasks
FAULT_TASKS = 60  # tasks of each broker / database / S3 fault run
JOB = {"LEASE_SECONDS": "4", "SWEEP_SECONDS": "2", "POLL_SECONDS": "0.2"}


def _emails(cluster: Cluster, n: int) -> list[str]:
    with sqlite3.connect(cluster.workdir / "demo" / "shop.sqlite") as db:
        rows = [r[0] for r in db.execute("SELECT email FROM customers ORDER BY id LIMIT ?", (n,))]
    return (rows * (n // len(rows) + 1))[:n]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    need("postgres")
    need("redis")  # the test runs its own redis-server; the shared one tells us the binary is there
    with Cluster(tmp_path, broker="redis", job=dict(JOB)) as c:
        yield c


def _token(cluster: Cluster, i: int) -> str:
    return f"cluster-test-{i:06d}-{cluster.queue}-0123456789abcdef"  # clientTokens are 36+ characters


def _counts(cluster: Cluster) -> dict[str, int]:
    return {str(s): int(n) for s, n in cluster.query("SELECT status, count(*) FROM privacy_tasks GROUP BY status")}


def _wait_done(cluster: Cluster, n: int, timeout: float, during: Callable[[], None] | None = None) -> float:
    start = time.monotonic()
    while True:
        try:
            counts = _counts(cluster)
        except Exception:  # the database may be the fault being injected
            counts = {}
        if sum(counts.values()) == n and counts.get("IN_PROGRESS", 0) == 0:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            logs = "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in sorted(cluster.log_dir.glob("*")))
            raise AssertionError(f"not done after {timeout}s: {counts}\n{logs}")
        if during is not None:
            during()
        time.sleep(0.5)


def _assert_exactly_once(cluster: Cluster, ids: list[str]) -> None:
    assert len(set(ids)) == len(ids)
    rows = cluster.query("SELECT id, status, lease_owner, result_key FROM privacy_tasks")
    assert sorted(r[0] for r in rows) == sorted(ids)
    assert {r[1] for r in rows} == {"COMPLETED"}, [r for r in rows if r[1] != "COMPLETED"][:5]
    assert {r[2] for r in rows} == {None}
    expected = sorted(f"dsar/{r[3]}" for r in rows)
    assert sorted(cluster.objects()) == expected  # one archive per task, nothing else in the bucket
    uploads = cluster.s3_client().list_multipart_uploads(Bucket=cluster.bucket).get("Uploads", [])
    assert uploads == []  # every upload a killed attempt left was aborted by the next attempt
    for i, proc in enumerate(cluster.worker_procs):  # every worker is running at the end
        assert proc is not None and proc.poll() is None, cluster.log(f"worker-{i}").read_text()[-3000:]


class Chaos:
    """Every `every` seconds, SIGKILL a random worker and start it again."""

    def __init__(self, cluster: Cluster, every: float = 2.0) -> None:
        self.cluster, self.every, self.kills = cluster, every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Chaos:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        rnd = random.Random(7)
        while not self._stop.wait(self.every):
            i = rnd.randrange(self.cluster.workers)
            self.cluster.kill_worker(i)
            self.kills += 1
            self.cluster.start_worker(i)


class Submitter:
    """Submits tasks spread over `seconds` in a thread, so a fault injected meanwhile hits running work."""

    def __init__(self, cluster: Cluster, n: int, seconds: float) -> None:
        self.cluster, self.emails, self.pause = cluster, _emails(cluster, n), seconds / n
        self.ids: list[str] = []
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Submitter:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._thread.join(180)

    def _run(self) -> None:
        clients = [self.cluster.client(i) for i in range(self.cluster.apis)]
        try:
            for i, email in enumerate(self.emails):
                self.ids.append(clients[i % len(clients)].start(email, _token(self.cluster, i)))
                time.sleep(self.pause)
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            for c in clients:
                c.close()


def test_broker_restart_mid_run_loses_nothing(cluster: Cluster) -> None:
    with Submitter(cluster, FAULT_TASKS, seconds=10) as sub:
        time.sleep(2)
        cluster.stop_broker()  # every queued message is lost with it (no persistence); the APIs still accept tasks
        time.sleep(5)
        cluster.start_broker()
    assert sub.error is None, sub.error
    # A Celery worker can die on the Redis reconnect (celery 5.x: "Unrecoverable error: AttributeError ...
    # 'hostname'"); `dsar worker` then exits and its supervisor starts it again, as here.
    revived = [cluster.revive_workers()]
    elapsed = _wait_done(cluster, FAULT_TASKS, timeout=120, during=lambda: revived.append(cluster.revive_workers()))
    print(f"broker restart: done {elapsed:.1f}s after the last submission; {sum(revived)} workers restarted")
    _assert_exactly_once(cluster, sub.ids)
    api_logs = "".join(cluster.log(f"api-{i}").read_text() for i in range(cluster.apis))
    assert "resolver_failed" not in api_logs  # the APIs accepted every task while the broker was down
    assert "notify_failed" in api_logs  # ... and some were accepted then


def test_state_database_unreachable_for_ten_seconds(cluster: Cluster) -> None:
    cut = 0
    with Submitter(cluster, FAULT_TASKS, seconds=14) as sub:
        time.sleep(2)
        cluster.allow_db_connections(False)  # what a PostgreSQL restart looks like to its clients, for 10 s
        try:
            end = time.monotonic() + 10
            while time.monotonic() < end:  # cut every open connection of every process, and new ones are refused
                cut += cluster.terminate_db_connections()
                time.sleep(0.2)
        finally:
            cluster.allow_db_connections(True)
    assert sub.error is None, sub.error
    elapsed = _wait_done(cluster, FAULT_TASKS, timeout=120)
    print(f"database: {cut} connections cut over 10s; done {elapsed:.1f}s after the last submission")
    _assert_exactly_once(cluster, sub.ids)


S3_DOWN_SECONDS = 30


def test_s3_down_tasks_wait_and_complete(cluster: Cluster) -> None:
    cluster.stop_s3()
    with Submitter(cluster, FAULT_TASKS, seconds=5) as sub:
        pass
    assert sub.error is None, sub.error
    time.sleep(S3_DOWN_SECONDS - 5)
    assert _counts(cluster) == {"IN_PROGRESS": FAULT_TASKS}  # waiting, not failed
    cluster.start_s3()  # moto keeps state in memory: a new, empty bucket
    elapsed = _wait_done(cluster, FAULT_TASKS, timeout=120)
    attempts = cluster.query("SELECT max(attempts) FROM privacy_tasks")[0][0]
    print(f"s3 outage: done {elapsed:.1f}s after the endpoint came back; max attempts {attempts}")
    _assert_exactly_once(cluster, sub.ids)
    assert attempts <= 2  # runs that met the outage were given back, not counted toward DSAR_JOB__MAX_ATTEMPTS


def test_chaos_sigkill_of_workers_every_two_seconds(cluster: Cluster) -> None:
    t0 = time.monotonic()
    with Chaos(cluster) as chaos:
        with Submitter(cluster, CHAOS_TASKS, seconds=CHAOS_SECONDS) as sub:
            pass
        assert sub.error is None, sub.error
        ids = sub.ids
        elapsed = _wait_done(cluster, len(ids), timeout=150)
    assert chaos.kills >= CHAOS_SECONDS // 3
    print(f"chaos: {len(ids)} tasks, {chaos.kills} SIGKILLs, done {time.monotonic() - t0:.1f}s after the first")
    _assert_exactly_once(cluster, ids)
    attempts = cluster.query("SELECT max(attempts), sum(attempts) FROM privacy_tasks")[0]
    print(f"chaos: waited {elapsed:.1f}s after submitting; attempts max={attempts[0]} total={attempts[1]}")


def test_the_topology_on_rabbitmq_survives_a_sigkill(tmp_path: Path) -> None:
    need("postgres")
    need("rabbitmq")  # the machine's server, with a private queue (deleted afterwards)
    with Cluster(tmp_path, broker="rabbitmq", job=dict(JOB)) as c:
        with Submitter(c, 40, seconds=6) as sub:
            time.sleep(2)
            c.kill_worker(0)
            c.start_worker(0)
        assert sub.error is None, sub.error
        _wait_done(c, 40, timeout=90)
        _assert_exactly_once(c, sub.ids)
