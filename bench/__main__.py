"""Benchmarks that print figures (never timed assertions): `make bench`, or `python -m bench --quick`.

Starts a real `dsar serve` on the demo shop and measures, over HTTP as a client would:
  latency    one retrieval, start mutation -> COMPLETED observed (median/min/max of N)
  throughput N tasks submitted at once -> all COMPLETED (tasks per second)
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.server import served

START = 'mutation { startPersonalDataRetrievalTask(input: {dataSubject: {type: SHOPPER, email: "%s"}}) { taskId } }'
STATUS = 'query { personalDataRetrievalTask(taskId: "%s") { status } }'


def _summary(name: str, values: list[float], unit: str) -> str:
    return (
        f"| {name} | {statistics.median(values):.1f} {unit} | {min(values):.1f} {unit} | "
        f"{max(values):.1f} {unit} | {len(values)} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench")
    ap.add_argument("--quick", action="store_true", help="small smoke run")
    ap.add_argument("--customers", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--tasks", type=int, default=1000)
    args = ap.parse_args()
    if args.quick:
        args.customers, args.runs, args.tasks = 500, 3, 20
    from dsar.demo.generate import build_demo

    work = Path(tempfile.mkdtemp(prefix="dsar-bench-"))
    t0 = time.perf_counter()
    info = build_demo(work / "demo", customers=args.customers)
    print(f"demo shop with {args.customers} customers built in {time.perf_counter() - t0:.1f} s")
    with sqlite3.connect(info.shop) as db:
        emails = [r[0] for r in db.execute("SELECT email FROM customers ORDER BY id LIMIT ?", (args.tasks,))]
    with served(work, info.datamap, ["privacy:manage"]) as http:

        def start(email: str) -> str:
            r = http.post("/graphql", json={"query": START % email})
            return str(r.json()["data"]["startPersonalDataRetrievalTask"]["taskId"])

        def status(task_id: str) -> str:
            r = http.post("/graphql", json={"query": STATUS % task_id})
            return str(r.json()["data"]["personalDataRetrievalTask"]["status"])

        latencies = []
        for i in range(args.runs + 1):
            t = time.perf_counter()
            tid = start("jane.doe@example.com")
            while status(tid) == "IN_PROGRESS":
                time.sleep(0.002)
            if i:  # the first run warms up connections and caches
                latencies.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(start, emails))
        submitted = time.perf_counter() - t
        # Workers take tasks oldest first: follow the queue in order, so observing costs ~50 requests/s.
        for tid in ids:
            while status(tid) == "IN_PROGRESS":
                time.sleep(0.02)
        total = time.perf_counter() - t
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"embedded mode (SQLite state, 2 worker threads)\n"
    )
    print("| figure | median | min | max | n |\n|---|---|---|---|---|")
    print(_summary("B0 one retrieval, start -> COMPLETED observed (demo, jane, 10 collections)", latencies, "ms"))
    print(
        f"| B0 {len(ids)} tasks at once: submitted in {submitted:.1f} s, all done in {total:.1f} s | "
        f"{len(ids) / total:.1f} tasks/s | | | 1 |"
    )


if __name__ == "__main__":
    main()
