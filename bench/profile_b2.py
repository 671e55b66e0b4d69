"""B2 under a deterministic profiler: `python -m bench.profile_b2 [--tasks N] [--top K] [--out FILE]`.

One process runs the app (ASGI, in this process) with its in-process workers, as `dsar serve` does; a batch of
N demo customers goes in through `createUploadLink`, a PUT and `startPersonalDataRetrievalTasks`, as in
`bench.queue`. Every thread the app starts runs under its own `cProfile.Profile` timed by the thread's own CPU
clock (`time.thread_time`: waits do not count); their figures are merged and
the top functions printed by own time and by cumulative time, with the process's CPU seconds per task (the
profiler's overhead included: compare runs of this command with each other, not with `bench.queue`).
Figures only: nothing here asserts.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sqlite3
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from dsar import log
from dsar.api.app import create_app
from dsar.bootstrap import Container
from dsar.config import Settings
from dsar.demo.generate import build_demo

CREATE = "mutation { createUploadLink(input: {fileExtension: CSV, size: %d}) { uploadUrl fileId } }"
START = 'mutation { startPersonalDataRetrievalTasks(input: {fileId: "%s"}) { batchId } }'
BATCH = 'query { personalDataRetrievalTaskBatch(batchId: "%s") { status taskCounts { completed failed } } }'

_profiles: list[cProfile.Profile] = []
_lock = threading.Lock()
_original_run = threading.Thread.run


def _profiled_run(self: threading.Thread) -> None:
    p = cProfile.Profile(time.thread_time)
    with _lock:
        _profiles.append(p)
    p.enable()
    try:
        _original_run(self)
    finally:
        p.disable()


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.profile_b2")
    ap.add_argument("--tasks", type=int, default=500)
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--out", type=Path, default=None, help="write the merged pstats here")
    ap.add_argument("--no-profile", action="store_true", help="only the CPU seconds per task")
    args = ap.parse_args()
    log.configure("WARNING")
    work = Path(tempfile.mkdtemp(prefix="dsar-profile-b2-"))
    info = build_demo(work / "demo", customers=max(args.tasks, 500))
    with sqlite3.connect(info.shop) as db:
        emails = [r[0] for r in db.execute("SELECT email FROM customers ORDER BY id LIMIT ?", (args.tasks,))]
    content = ("email\n" + "\n".join(emails) + "\n").encode()
    settings = Settings(
        data_dir=work / "state",
        datamap=info.datamap,
        public_url="http://testserver",
        secret_key="profile-" + "k" * 32,
        log_level="WARNING",
    )
    container = Container(settings)
    if not args.no_profile:
        threading.Thread.run = _profiled_run  # type: ignore[method-assign]
    main_profile = cProfile.Profile(time.thread_time)
    try:
        with TestClient(create_app(container)) as client:
            cid, secret = container.auth.create_client("profile", ["privacy:manage", "files:manage"])
            token = client.post(
                "/token", data={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret}
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}

            def gql(query: str) -> dict[str, Any]:
                body = client.post("/graphql", json={"query": query}, headers=headers).json()
                assert not body.get("errors"), body
                return dict(body["data"])

            link = gql(CREATE % len(content))["createUploadLink"]
            put = client.put(link["uploadUrl"], content=content, headers={"Content-Type": "text/csv"})
            assert put.status_code == 200, put.text
            cpu0, t0 = time.process_time(), time.perf_counter()
            if not args.no_profile:
                main_profile.enable()
            batch = gql(START % link["fileId"])["startPersonalDataRetrievalTasks"]["batchId"]
            while (b := gql(BATCH % batch)["personalDataRetrievalTaskBatch"])["status"] == "IN_PROGRESS":
                time.sleep(0.25)
            main_profile.disable()
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
    finally:
        container.close()
        threading.Thread.run = _original_run  # type: ignore[method-assign]
    counts = b["taskCounts"]
    print(
        f"{args.tasks} tasks: {counts['completed']} completed, {counts['failed']} failed; "
        f"{cpu * 1000 / args.tasks:.2f} ms CPU per task, {args.tasks / wall:.1f} tasks/s"
        f"{'' if args.no_profile else ' (under the profiler)'}"
    )
    if args.no_profile:
        return
    stats = pstats.Stats(main_profile)
    for p in _profiles:
        try:
            stats.add(p)
        except TypeError:  # a thread that never ran a profiled call
            continue
    if args.out:
        stats.dump_stats(str(args.out))
    stats.sort_stats("tottime").print_stats(args.top)
    stats.sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
