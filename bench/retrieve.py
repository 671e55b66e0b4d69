"""One subject's retrieval in this process, as a worker does it (walk + archive to a file, fsynced).

`python -m bench.retrieve DATAMAP EMAIL [--runs N]` prints one JSON line: the seconds of each run,
the records found, the archive size and this process's peak RSS (VmHWM). The benchmarks run it in a
subprocess so that the peak RSS is that of the process that builds the archive, and nothing else.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

from dsar.connectors.registry import connect
from dsar.datamap.loader import load
from dsar.engine.archive import build_archive, mask_email
from dsar.engine.execute import EngineOptions, Sources, normalize_email, run_retrieval
from dsar.engine.plan import build_plan
from dsar.engine.results import ArchiveMeta


def retrieve(datamap: Path, email: str, runs: int = 1, profile: str | None = None) -> dict[str, object]:
    dm = load(datamap)
    plan = build_plan(dm)
    sources = Sources(dm, connect)
    opts = EngineOptions()
    work = Path(tempfile.mkdtemp(prefix="dsar-bench-retrieve-"))
    times: list[float] = []
    walks: list[float] = []
    records = size = 0
    try:
        for i in range(runs):
            if profile and i == runs - 1:
                import cProfile

                prof = cProfile.Profile()
                prof.enable()
            t = time.perf_counter()
            spool = work / f"spool{i}"
            spool.mkdir()
            results, reports = run_retrieval(dm, plan, sources, {"email": normalize_email(email)}, spool, opts)
            walks.append(time.perf_counter() - t)
            now = datetime.now(UTC)
            meta = ArchiveMeta(f"bench-{i}", mask_email(email), now, now, "dsar bench")
            out = work / f"archive{i}.zip"
            with out.open("wb") as f:
                for chunk in build_archive(results, reports, meta):
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            times.append(time.perf_counter() - t)
            if profile and i == runs - 1:
                prof.disable()
                prof.dump_stats(profile)
            records = sum(r.records for r in results)
            size = out.stat().st_size
            shutil.rmtree(spool)
            out.unlink()
    finally:
        sources.dispose()
        shutil.rmtree(work, ignore_errors=True)
    # VmHWM is this process's own peak; ru_maxrss can carry the forking parent's peak across exec.
    status = Path("/proc/self/status").read_text().splitlines()
    rss_kb = next((int(line.split()[1]) for line in status if line.startswith("VmHWM:")), 0) or (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    )
    return {"seconds": times, "walk_seconds": walks, "records": records, "bytes": size, "maxrss_mb": rss_kb / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.retrieve")
    ap.add_argument("datamap", type=Path)
    ap.add_argument("email")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--profile", help="write a cProfile of the last run to this file")
    args = ap.parse_args()
    print(orjson.dumps(retrieve(args.datamap, args.email, args.runs, args.profile)).decode())


if __name__ == "__main__":
    main()
