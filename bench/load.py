"""B6: `personalDataRetrievalTask` queries under load from a second process (wrk), against a real `dsar serve`.

`python -m bench.load [--seconds S] [--runs N] [--connections C]` starts `dsar serve` on the demo shop,
completes one retrieval task, then runs `wrk` N times with a Lua script that POSTs the query for that task
with a bearer token. Each run's req/s, p50 and p99 come from wrk; the Lua script counts every answer that is
not a 200 without `"errors"` as an error. Without wrk on PATH the scenario reports that it was skipped.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.server import cpu_seconds, served

START = 'mutation { startPersonalDataRetrievalTask(input: {dataSubject: {type: SHOPPER, email: "%s"}}) { taskId } }'
QUERY = (
    'query { personalDataRetrievalTask(taskId: "%s") { taskId status submissionDate lastUpdatedDate '
    "dataSubject { type email } dataRetrievalLink errors { code message } } }"
)

LUA = r"""
wrk.method = "POST"
wrk.body = __BODY__
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = __AUTH__

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  bad = 0
  good = 0
end
-- A GraphQL error answer starts with "errors" (the endpoint writes it before "data").
function response(status, headers, body)
  if status ~= 200 or string.sub(body, 1, 10) == '{"errors":' then
    bad = bad + 1
  else
    good = good + 1
  end
end
function done(summary, latency, requests)
  local b, g = 0, 0
  for _, t in ipairs(threads) do
    b = b + t:get("bad")
    g = g + t:get("good")
  end
  io.write(string.format("DSAR good=%d bad=%d p50=%d p99=%d p999=%d max=%d n=%d s=%d sockerr=%d\n",
    g, b, latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max,
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""

_LINE = re.compile(r"DSAR good=(\d+) bad=(\d+) p50=(\d+) p99=(\d+) p999=(\d+) max=(\d+) n=(\d+) s=(\d+) sockerr=(\d+)")


@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    p999_ms: float
    good: int
    bad: int
    socket_errors: int
    cpu_ms: float = 0.0  # the server's CPU time (all its processes) per answered request


def wrk(url: str, script: Path, seconds: float, connections: int, threads: int = 1) -> Run:
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "-s", str(script), url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    m = _LINE.search(out)
    if m is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    good, bad, p50, p99, p999, _mx, n, us, sockerr = (int(g) for g in m.groups())
    return Run(n / (us / 1e6), p50 / 1000, p99 / 1000, p999 / 1000, good, bad, sockerr)


def load(work: Path, datamap: Path, seconds: float, runs: int, connections: int, serve_args: list[str]) -> list[Run]:
    procs: list[subprocess.Popen[bytes]] = []
    with served(work, datamap, ["privacy:manage"], serve_args=serve_args, started=procs) as http:
        r = http.post("/graphql", json={"query": START % "jane.doe@example.com"})
        tid = r.json()["data"]["startPersonalDataRetrievalTask"]["taskId"]
        for _ in range(3000):
            status = http.post("/graphql", json={"query": QUERY % tid}).json()["data"]["personalDataRetrievalTask"]
            if status["status"] != "IN_PROGRESS":
                break
            time.sleep(0.01)
        body = json.dumps({"query": QUERY % tid})
        script = work / "b6.lua"
        lua = LUA.replace("__BODY__", _lua_string(body)).replace("__AUTH__", _lua_string(http.headers["authorization"]))
        script.write_text(lua)
        url = str(http.base_url.join("/graphql"))
        wrk(url, script, min(seconds, 2), connections)  # warm-up: connections, caches, the thread pool
        results = []
        for _ in range(runs):
            before = cpu_seconds(procs[0].pid)
            run = wrk(url, script, seconds, connections)
            run.cpu_ms = (cpu_seconds(procs[0].pid) - before) * 1000 / max(1, run.good + run.bad)
            results.append(run)
        return results


def _lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


def rows(results: list[Run], label: str) -> list[str]:
    def fmt(name: str, values: list[float], unit: str, digits: int = 1) -> str:
        return (
            f"| {name} | {statistics.median(values):.{digits}f} {unit} | {min(values):.{digits}f} {unit} | "
            f"{max(values):.{digits}f} {unit} | {len(values)} |"
        )

    errors = sum(r.bad + r.socket_errors for r in results)
    total = sum(r.good + r.bad for r in results)
    return [
        fmt(f"B6 personalDataRetrievalTask under load ({label}): throughput", [r.rps for r in results], "req/s", 0),
        fmt("B6 latency p50", [r.p50_ms for r in results], "ms", 2),
        fmt("B6 latency p99", [r.p99_ms for r in results], "ms", 2),
        fmt("B6 latency p99.9", [r.p999_ms for r in results], "ms", 2),
        fmt("B6 server CPU time per request (all its processes)", [r.cpu_ms for r in results], "ms", 2),
        f"| B6 errors (non-200, GraphQL errors, socket errors) of {total:,} answers | {errors} | | | |",
    ]


def scenario(work: Path, datamap: Path, quick: bool, processes: int = 1, connections: int = 32) -> list[str]:
    if shutil.which("wrk") is None:
        return ["| B6 skipped: `wrk` is not installed (`apt-get install wrk`) | | | | |"]
    seconds, runs = (1, 1) if quick else (10, 5)
    serve_args = ["--processes", str(processes)] if processes > 1 else []
    results = load(work, datamap, seconds, runs, connections, serve_args)
    label = f"wrk 1 thread, {connections} connections, {seconds} s x {runs}, dsar serve {processes} process(es)"
    return rows(results, label)


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.load")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--processes", type=int, default=1, help="`dsar serve --processes`")
    ap.add_argument("--customers", type=int, default=500)
    args = ap.parse_args()
    from dsar.demo.generate import build_demo

    work = Path(tempfile.mkdtemp(prefix="dsar-bench-load-"))
    info = build_demo(work / "demo", customers=args.customers)
    serve_args = ["--processes", str(args.processes)] if args.processes > 1 else []
    results = load(work, info.datamap, args.seconds, args.runs, args.connections, serve_args)
    for r in results:
        print(r)
    print("| figure | median | min | max | n |\n|---|---|---|---|---|")
    label = f"{args.connections} connections, {args.processes} process(es)"
    print("\n".join(rows(results, label)))


if __name__ == "__main__":
    main()
