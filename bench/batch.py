"""A bulk retrieval from an uploaded CSV, measured over HTTP against a real `dsar serve`: `python -m bench.batch`.

Prints: the PUT of the file, the start mutation's answer, all rows read (tasks created), all tasks ended.
Rows are the demo shop's customers (found: an archive each), so the tasks do the engine's full work.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import tempfile
import time
from pathlib import Path

import httpx

from bench.server import served

CREATE = "mutation { createUploadLink(input: {fileExtension: CSV, size: %d}) { uploadUrl fileId } }"
START = 'mutation { startPersonalDataRetrievalTasks(input: {fileId: "%s"}) { batchId } }'
BATCH = (
    'query { personalDataRetrievalTaskBatch(batchId: "%s") { status rowsRead tasksStarted rowsRejected '
    "taskCounts { inProgress completed failed } } }"
)


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.batch")
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--customers", type=int, default=10_000)
    ap.add_argument("--database-url", default=None, help="dsar's state database (SQLite in the data dir if unset)")
    args = ap.parse_args()
    from dsar.demo.generate import build_demo

    work = Path(tempfile.mkdtemp(prefix="dsar-bench-batch-"))
    info = build_demo(work / "demo", customers=args.customers)
    with sqlite3.connect(info.shop) as db:
        emails = [r[0] for r in db.execute("SELECT email FROM customers ORDER BY id LIMIT ?", (args.rows,))]
    emails += [f"absent{i}@example.com" for i in range(args.rows - len(emails))]
    content = ("email\n" + "\n".join(emails) + "\n").encode()

    with served(work, info.datamap, ["privacy:manage", "files:manage"], args.database_url) as http:

        def gql(query: str) -> dict[str, object]:
            return dict(http.post("/graphql", json={"query": query}).json()["data"])

        link = gql(CREATE % len(content))["createUploadLink"]
        assert isinstance(link, dict)
        t = time.perf_counter()
        put = httpx.put(link["uploadUrl"], content=content, headers={"Content-Type": "text/csv"})
        assert put.status_code == 200, put.text
        uploaded = time.perf_counter() - t

        t0 = time.perf_counter()
        started = gql(START % link["fileId"])["startPersonalDataRetrievalTasks"]
        answered = time.perf_counter() - t0
        assert isinstance(started, dict)
        read = None
        while True:
            b = gql(BATCH % started["batchId"])["personalDataRetrievalTaskBatch"]
            assert isinstance(b, dict)
            if read is None and b["rowsRead"] == args.rows:
                read = time.perf_counter() - t0
            if b["status"] != "IN_PROGRESS":
                break
            time.sleep(0.05)
        done = time.perf_counter() - t0
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"state: {'PostgreSQL' if args.database_url else 'SQLite'}, 2 worker threads\n"
    )
    print(f"| {args.rows:,}-row CSV ({len(content) / 1e6:.2f} MB) | |\n|---|---|")
    print(f"| PUT to the upload link | {uploaded * 1000:.0f} ms |")
    print(f"| startPersonalDataRetrievalTasks answered | {answered * 1000:.0f} ms |")
    print(f"| all rows read, tasks created | {read or 0:.2f} s |")
    print(f"| all tasks ended ({b['taskCounts']}) | {done:.1f} s ({args.rows / done:.0f} tasks/s) |")


if __name__ == "__main__":
    main()
