"""B2: 10,000 retrieval tasks queued at once, until every one is COMPLETED (tasks per second).

`python -m bench.queue --mode embedded|distributed [--tasks N] [--runs R]`.
The tasks are queued at once the way a back office does it in bulk: one CSV of N e-mails (all real
customers of the demo shop, so every task walks its sources and writes an archive) through
`createUploadLink`, a PUT, and `startPersonalDataRetrievalTasks`. The clock starts before the mutation and
stops when the batch reports every task ended; the batch's task counts say how many COMPLETED.

- embedded: one `dsar serve` (SQLite state, local storage, 2 in-process worker threads).
- distributed: `bench.cluster.Cluster` (PostgreSQL state, S3 on moto_server, Redis broker, 1 API, 2
  `dsar worker` Celery processes of 2 threads each).
"""

from __future__ import annotations

import argparse
import functools
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.server import cpu_seconds, served

CREATE = "mutation { createUploadLink(input: {fileExtension: CSV, size: %d}) { uploadUrl fileId } }"
START = 'mutation { startPersonalDataRetrievalTasks(input: {fileId: "%s"}) { batchId } }'
STATUS = 'query { personalDataRetrievalTask(taskId: "%s") { status } }'
BATCH = (
    'query { personalDataRetrievalTaskBatch(batchId: "%s") { status rowsRead tasksStarted rowsRejected '
    "taskCounts { inProgress completed failed } } }"
)


@dataclass
class Run:
    tasks: int
    answered: float  # the mutation's answer, seconds
    created: float  # every row read and its task created, seconds after the mutation was sent
    done: float  # every task ended
    completed: int
    failed: int
    machine_cpu_ms: float = 0.0  # CPU time of the whole machine (every process: databases, S3, ...), per task
    cpu_ms: dict[str, float] = field(default_factory=dict)  # CPU time per task of named processes

    @property
    def rate(self) -> float:
        return self.tasks / self.done


def _csv(shop: Path, n: int) -> bytes:
    with sqlite3.connect(shop) as db:
        emails = [r[0] for r in db.execute("SELECT email FROM customers ORDER BY id LIMIT ?", (n,))]
    if len(emails) < n:
        raise SystemExit(f"the demo shop has {len(emails)} customers, fewer than {n} tasks")
    return ("email\n" + "\n".join(emails) + "\n").encode()


def machine_cpu_seconds() -> float:
    """Busy CPU time of the whole machine so far (/proc/stat: all but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def queue_batch(
    gql: Callable[[str], dict[str, Any]],
    content: bytes,
    rows: int,
    poll: float = 0.25,
    cpu: dict[str, Callable[[], float]] | None = None,
) -> Run:
    """Upload the CSV, start the batch, follow it until every task ended (`cpu`: name -> CPU seconds so far
    of some processes, reported per task)."""
    cpu = cpu or {}
    link = gql(CREATE % len(content))["createUploadLink"]
    put = httpx.put(link["uploadUrl"], content=content, headers={"Content-Type": "text/csv"}, timeout=60)
    assert put.status_code == 200, put.text
    cpu0, machine0 = {k: f() for k, f in cpu.items()}, machine_cpu_seconds()
    t0 = time.perf_counter()
    batch_id = gql(START % link["fileId"])["startPersonalDataRetrievalTasks"]["batchId"]
    answered = time.perf_counter() - t0
    created = 0.0
    while True:
        b = gql(BATCH % batch_id)["personalDataRetrievalTaskBatch"]
        if not created and b["tasksStarted"] + b["rowsRejected"] >= rows:
            created = time.perf_counter() - t0
        if b["status"] != "IN_PROGRESS":
            break
        time.sleep(poll)
    done = time.perf_counter() - t0
    machine = (machine_cpu_seconds() - machine0) * 1000 / rows
    spent = {k: (f() - cpu0[k]) * 1000 / rows for k, f in cpu.items()}
    counts = b["taskCounts"]
    return Run(rows, answered, created or done, done, counts["completed"], counts["failed"], machine, spent)


def embedded(work: Path, tasks: int, runs: int, database_url: str | None = None, processes: int = 1) -> list[Run]:
    from dsar.demo.generate import build_demo

    info = build_demo(work / "demo", customers=max(tasks, 500))
    content = _csv(info.shop, tasks)
    results = []
    for i in range(runs):
        run_dir = work / f"embedded{i}"  # a fresh state database for every run
        serve_args = ["--processes", str(processes)] if processes > 1 else []
        procs: list[subprocess.Popen[bytes]] = []
        scopes = ["privacy:manage", "files:manage"]
        with served(run_dir, info.datamap, scopes, database_url, serve_args, started=procs) as http:

            def gql(query: str) -> dict[str, Any]:
                body = http.post("/graphql", json={"query": query}).json()
                assert not body.get("errors"), body
                return dict(body["data"])

            server = {"dsar serve (API and workers)": functools.partial(cpu_seconds, procs[0].pid)}
            results.append(queue_batch(gql, content, tasks, cpu=server))
        print(f"  embedded run {i + 1}: {results[-1]}", file=sys.stderr, flush=True)
    return results


def distributed(
    work: Path, tasks: int, runs: int, storage: str = "s3", threads: int = 2, env: dict[str, str] | None = None
) -> list[Run]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.cluster import Cluster

    results = []
    for i in range(runs):
        extra = {"DSAR_STORAGE_URL": (work / f"objects{i}").resolve().as_uri()} if storage == "local" else {}
        extra.update(env or {})
        job = {"WORKERS": str(threads)}  # Celery threads per `dsar worker`
        cluster = Cluster(
            work / f"cluster{i}", broker="redis", apis=1, workers=2, customers=tasks, job=job, env_extra=extra
        )
        with cluster as c:
            content = _csv(c.workdir / "demo" / "shop.sqlite", tasks)
            client = c.client(0)
            try:
                _warm_up(client)
                results.append(queue_batch(client.gql, content, tasks, cpu=_cluster_cpu(c)))
            finally:
                client.close()
        print(f"  distributed run {i + 1}: {results[-1]}", file=sys.stderr, flush=True)
    return results


def _cluster_cpu(c: Any) -> dict[str, Callable[[], float]]:
    """CPU seconds so far of the cluster's processes, by role (PostgreSQL: the postmaster and its backends)."""

    def of(procs: list[Any]) -> Callable[[], float]:
        return lambda: sum(cpu_seconds(p.pid) for p in procs if p is not None)

    out = {"the 2 `dsar worker` processes": of(c.worker_procs), "the API": of(c.api_procs)}
    if c.s3 is not None:
        out["moto_server (the S3 double)"] = of([c.s3])
    pid_file = c.pg_dir / "data" / "postmaster.pid" if getattr(c, "pg_dir", None) else None
    if pid_file is not None and pid_file.exists():
        postmaster = int(pid_file.read_text().split()[0])
        out["PostgreSQL (state)"] = lambda: cpu_seconds(postmaster)
    if c.redis is not None:
        out["Redis (broker)"] = of([c.redis])
    return out


def _warm_up(client: Any, n: int = 4) -> None:
    """A few single tasks until COMPLETED: the clock starts once the workers consume (they start in seconds,
    tens of seconds on a loaded machine, after the API answers)."""
    ids = [client.start("jane.doe@example.com") for _ in range(n)]
    deadline = time.monotonic() + 300
    for task_id in ids:
        while client.gql(STATUS % task_id)["personalDataRetrievalTask"]["status"] == "IN_PROGRESS":
            assert time.monotonic() < deadline, "the workers did not run the warm-up tasks"
            time.sleep(0.2)


def rows(label: str, results: list[Run]) -> list[str]:
    def fmt(name: str, values: list[float], unit: str, digits: int = 1) -> str:
        return (
            f"| {name} | {statistics.median(values):.{digits}f} {unit} | {min(values):.{digits}f} {unit} | "
            f"{max(values):.{digits}f} {unit} | {len(values)} |"
        )

    n = results[0].tasks
    completed = sum(r.completed for r in results)
    failed = sum(r.failed for r in results)
    return [
        fmt(f"B2 {n:,} tasks queued at once, {label}: throughput (all ended)", [r.rate for r in results], "tasks/s"),
        fmt("B2 mutation answered", [r.answered * 1000 for r in results], "ms", 0),
        fmt("B2 every task created (rows read)", [r.created for r in results], "s", 2),
        fmt("B2 every task ended", [r.done for r in results], "s"),
        *(fmt(f"B2 CPU per task: {name}", [r.cpu_ms[name] for r in results], "ms", 2) for name in results[0].cpu_ms),
        fmt("B2 CPU per task: the whole machine", [r.machine_cpu_ms for r in results], "ms", 2),
        f"| B2 tasks COMPLETED / FAILED over all runs | {completed:,} / {failed:,} | | | |",
    ]


def scenario(work: Path, quick: bool, modes: tuple[str, ...] = ("embedded", "distributed")) -> list[str]:
    tasks, runs = (50, 1) if quick else (10_000, 3)
    out: list[str] = []
    if "embedded" in modes:
        out += rows("embedded (SQLite, local files, 2 worker threads)", embedded(work / "b2", tasks, runs))
        label = "embedded, `dsar serve --processes 2` (2 x 2 worker threads)"
        out += rows(label, embedded(work / "b2p", tasks, runs, processes=2))
    if "distributed" in modes:
        label = "distributed (PostgreSQL, S3 on moto, Redis, 2 Celery workers x 2 threads)"
        out += rows(label, distributed(work / "b2", tasks, runs))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.queue")
    ap.add_argument("--mode", choices=["embedded", "distributed"], default="embedded")
    ap.add_argument("--tasks", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--storage", choices=["s3", "local"], default="s3", help="distributed: object storage")
    ap.add_argument("--processes", type=int, default=1, help="embedded: `dsar serve --processes`")
    ap.add_argument("--threads", type=int, default=2, help="distributed: Celery threads per worker (DSAR_JOB__WORKERS)")
    ap.add_argument("--env", nargs="*", default=[], help="distributed: DSAR_X=Y settings for the cluster's processes")
    args = ap.parse_args()
    env = dict(kv.split("=", 1) for kv in args.env)
    work = Path(tempfile.mkdtemp(prefix="dsar-bench-queue-"))
    if args.mode == "embedded":
        results = embedded(work, args.tasks, args.runs, processes=args.processes)
        label = f"embedded, {args.processes} process(es)"
    else:
        results = distributed(work, args.tasks, args.runs, args.storage, args.threads, env)
        label = f"distributed, {args.storage}, 2 workers x {args.threads} threads"
    print(f"\n{os.cpu_count()} cores\n| figure | median | min | max | n |\n|---|---|---|---|---|")
    print("\n".join(rows(label, results)))


if __name__ == "__main__":
    main()
