"""Benchmarks that print figures (never timed assertions): `make bench`, or `python -m bench --quick`.

Starts a real `dsar serve` on the demo shop and measures, over HTTP as a client would:
  latency    one retrieval, start mutation -> COMPLETED observed (median/min/max of N)
  throughput N tasks submitted at once -> all COMPLETED (tasks per second)
and the scale scenarios of the "Benchmarks and speed" issue (`--scenario B1 B3 ...`; all by default):
  B1 one retrieval start -> COMPLETED over HTTP, demo shop generated at --scale customers on PostgreSQL
  B3 one subject with --heavy-rows rows: walk + archive in a subprocess, time and its peak RSS
  B4 a data map of 300 collections (a chain and a fan-out): time per retrieval
  B5 the same subject in sources of ~10,000 rows and of --scale customers: time ratio
  B2 10,000 tasks queued at once (a bulk CSV), embedded and distributed (2 Celery workers): tasks per second
  B6 personalDataRetrievalTask queries under load from wrk: req/s, p50, p99, errors
  B7 a 1 GiB archive downloaded via its signed /files link, resumed with Range, and a 1 MiB range, stored
     in clear and sealed: MB/s, ms, and the server's CPU seconds per GB
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
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


def _retrieve(datamap: Path, email: str, runs: int) -> dict[str, object]:
    """bench.retrieve in a child process: its own peak RSS, nothing of this process."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.retrieve", str(datamap), email, "--runs", str(runs)],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout))


def _ms(values: object) -> list[float]:
    assert isinstance(values, list)
    return [v * 1000 for v in values]


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench")
    ap.add_argument("--quick", action="store_true", help="small smoke run (asserts nothing about time)")
    ap.add_argument(
        "--scenario",
        nargs="*",
        default=["B0", "B1", "B2", "B3", "B4", "B5", "B6", "B7"],
        help="B0 B1 B2 B3 B4 B5 B6 B7",
    )
    ap.add_argument("--b2-modes", nargs="*", default=["embedded", "distributed"], help="B2: embedded distributed")
    ap.add_argument("--b6-processes", type=int, default=2, help="B6: `dsar serve --processes`")
    ap.add_argument("--customers", type=int, default=10_000, help="B0: the demo shop's customers")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--scale", type=int, default=1_000_000, help="B1/B5: customers generated on PostgreSQL")
    ap.add_argument("--heavy-rows", type=int, default=100_000, help="B3: rows of the heavy subject")
    ap.add_argument("--collections", type=int, default=300, help="B4")
    ap.add_argument("--encrypted", action="store_true", help="B1: also run it with encryption at rest off")
    args = ap.parse_args()
    if args.quick:
        args.customers, args.runs, args.tasks = 500, 3, 20
        args.scale, args.heavy_rows, args.collections = 2000, 5000, 30
    work = Path(tempfile.mkdtemp(prefix="dsar-bench-"))
    rows: list[str] = []
    if "B0" in args.scenario:
        rows += _b0(args, work)
    rows += _scale(args, work)
    rows += _load(args, work)
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"embedded mode (SQLite state, 2 worker threads)\n"
    )
    print("| figure | median | min | max | n |\n|---|---|---|---|---|")
    print("\n".join(rows))


def _scale(args: argparse.Namespace, work: Path) -> list[str]:
    from bench.generate import HEAVY, SUBJECT, generate_postgres, generate_wide

    rows: list[str] = []
    if "B1" in args.scenario or "B5" in args.scenario:
        big = generate_postgres(args.scale)
        print(f"PostgreSQL shop, {args.scale:,} customers, {big.rows:,} rows: {big.seconds:.1f} s", flush=True)
        big_map = big.write_datamap(work / "big.yaml")
    if "B1" in args.scenario:
        on = {"DSAR_ENCRYPTION__ENABLED": "true"}  # the default, said out loud against the caller's environment
        latencies = _latencies(work / "b1", big_map, SUBJECT, args.runs, on)
        rows.append(
            _summary(f"B1 one retrieval, start -> COMPLETED, {args.scale:,} customers on PostgreSQL", latencies, "ms")
        )
        if args.encrypted:
            clear = _latencies(work / "b1-clear", big_map, SUBJECT, args.runs, {"DSAR_ENCRYPTION__ENABLED": "false"})
            rows.append(_summary("B1 the same, encryption at rest off (archive and work files in clear)", clear, "ms"))
    if "B3" in args.scenario:
        heavy = generate_postgres(1000, args.heavy_rows)
        r = _retrieve(heavy.write_datamap(work / "heavy.yaml"), HEAVY, 3)
        rows.append(_summary(f"B3 walk + archive, one subject with {r['records']:,} rows", _ms(r["seconds"]), "ms"))
        rows.append(_summary("B3 of which the walk (spool files written)", _ms(r["walk_seconds"]), "ms"))
        rows.append(
            f"| B3 peak RSS of the process that builds it ({r['bytes']:,} B archive) | "
            f"{r['maxrss_mb']:.0f} MB | | | 1 |"
        )
    if "B4" in args.scenario:
        wide = generate_wide(work / "wide", args.collections)
        r = _retrieve(wide, SUBJECT, 6)
        times = _ms(r["seconds"])
        rows.append(
            f"| B4 {args.collections} collections, first retrieval (reflects every table) | {times[0]:.1f} ms | | | 1 |"
        )
        rows.append(_summary(f"B4 {args.collections} collections (chain + fan-out), later retrievals", times[1:], "ms"))
    if "B5" in args.scenario:
        small = generate_postgres(400)
        a = _ms(_retrieve(small.write_datamap(work / "small.yaml"), SUBJECT, args.runs + 1)["seconds"])[1:]
        b = _ms(_retrieve(big_map, SUBJECT, args.runs + 1)["seconds"])[1:]
        rows.append(_summary(f"B5 same subject (walk + archive), sources of {small.rows:,} rows", a, "ms"))
        rows.append(_summary(f"B5 same subject (walk + archive), sources of {big.rows:,} rows", b, "ms"))
        rows.append(f"| B5 ratio of the medians | {statistics.median(b) / statistics.median(a):.2f} | | | |")
    return rows


def _load(args: argparse.Namespace, work: Path) -> list[str]:
    from bench import download, load, queue

    rows: list[str] = []
    if "B2" in args.scenario:
        rows += queue.scenario(work, args.quick, tuple(args.b2_modes))
    if "B6" in args.scenario or "B7" in args.scenario:
        from dsar.demo.generate import build_demo

        info = build_demo(work / "b67-demo", customers=500)
    if "B6" in args.scenario:
        rows += load.scenario(work / "b6", info.datamap, args.quick, processes=args.b6_processes)
    if "B7" in args.scenario:
        rows += download.scenario(work / "b7", info.datamap, args.quick)
    return rows


def _latencies(
    work: Path, datamap: Path, email: str, runs: int, env_extra: dict[str, str] | None = None
) -> list[float]:
    with served(work, datamap, ["privacy:manage"], env_extra=env_extra) as http:
        latencies = []
        for i in range(runs + 1):
            t = time.perf_counter()
            r = http.post("/graphql", json={"query": START % email})
            tid = r.json()["data"]["startPersonalDataRetrievalTask"]["taskId"]
            while (
                http.post("/graphql", json={"query": STATUS % tid}).json()["data"]["personalDataRetrievalTask"][
                    "status"
                ]
                == "IN_PROGRESS"
            ):
                time.sleep(0.002)
            if i:  # the first run warms up connections and caches
                latencies.append((time.perf_counter() - t) * 1000)
    return latencies


def _b0(args: argparse.Namespace, work: Path) -> list[str]:
    from dsar.demo.generate import build_demo

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
    return [
        _summary("B0 one retrieval, start -> COMPLETED observed (demo, jane, 10 collections)", latencies, "ms"),
        f"| B0 {len(ids)} tasks at once: submitted in {submitted:.1f} s, all done in {total:.1f} s | "
        f"{len(ids) / total:.1f} tasks/s | | | 1 |",
    ]


if __name__ == "__main__":
    main()
