"""Memory soak: many retrievals in ONE long-running process, as `dsar serve` runs them: `python -m bench.soak`.

The app (ASGI, in this process, with its in-process workers) answers the start mutation and the status query;
each retrieval runs to COMPLETED before the next starts. Prints the process's resident memory (VmRSS) after a
warm-up and every `--every` retrievals, then the growth after warm-up, for:
  small  `--small` retrievals of demo customers (about 26 rows each; 1,000 by default)
  heavy  `--heavy` retrievals of one subject with `--heavy-rows` rows (20 of 100,000 by default)
Queries send their values as variables (one text per operation); `--inline` puts them in the text instead, as a
careless client does. The goal (issue 19): growth after warm-up at most 5 MB. `--trace` also prints the
allocation sites that grew most (tracemalloc; slower). Figures only: nothing here asserts.
"""

from __future__ import annotations

import argparse
import gc
import sqlite3
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from bench.generate import HEAVY, generate_sqlite
from dsar import log
from dsar.api.app import create_app
from dsar.bootstrap import Container
from dsar.config import Settings

# One text per operation, values as variables, as a well-behaved client sends them (a client that inlines each
# e-mail and task id makes a new text per task: the GraphQL caches then fill to their bound; --inline does that).
START = (
    "mutation Start($email: String!) { startPersonalDataRetrievalTask("
    "input: {dataSubject: {type: SHOPPER, email: $email}}) { taskId } }"
)
STATUS = "query Status($taskId: String!) { personalDataRetrievalTask(taskId: $taskId) { status } }"
START_INLINE = (
    'mutation { startPersonalDataRetrievalTask(input: {dataSubject: {type: SHOPPER, email: "%s"}}) { taskId } }'
)
STATUS_INLINE = 'query { personalDataRetrievalTask(taskId: "%s") { status } }'


def rss_mb(field: str = "VmRSS") -> float:
    """A memory figure of this process from /proc/self/status (VmRSS; RssAnon: heap, RssFile: mapped files)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


class Soak:
    def __init__(self, client: TestClient, token: str, inline: bool = False) -> None:
        self.client, self.headers = client, {"Authorization": f"Bearer {token}"}
        self.inline = inline

    def gql(self, query: str, variables: dict[str, str]) -> dict[str, Any]:
        if self.inline:
            query, variables = query % next(iter(variables.values())), {}
        r = self.client.post("/graphql", json={"query": query, "variables": variables}, headers=self.headers)
        data = r.json()["data"]
        assert isinstance(data, dict), r.text
        return data

    def retrieve(self, email: str) -> None:
        start, status_query = (START_INLINE, STATUS_INLINE) if self.inline else (START, STATUS)
        task = self.gql(start, {"email": email})["startPersonalDataRetrievalTask"]["taskId"]
        while (status := self.gql(status_query, {"taskId": task})["personalDataRetrievalTask"]["status"]) == (
            "IN_PROGRESS"
        ):
            time.sleep(0.005)
        assert status == "COMPLETED", status

    def run(self, label: str, emails: list[str], warmup: int, every: int, trace: bool) -> float:
        for email in emails[:warmup]:
            self.retrieve(email)
        gc.collect()
        base = rss_mb()
        snapshot = tracemalloc.take_snapshot() if trace else None
        print(f"{label}: after {warmup} warm-up retrievals RSS {base:.1f} MB", flush=True)
        t0 = time.perf_counter()
        rest = emails[warmup:]
        for i, email in enumerate(rest, 1):
            self.retrieve(email)
            if i % every == 0 or i == len(rest):
                gc.collect()
                print(
                    f"{label}: {warmup + i:5d} retrievals  RSS {rss_mb():7.1f} MB  (+{rss_mb() - base:5.1f})"
                    f"  heap {rss_mb('RssAnon'):7.1f} MB  files {rss_mb('RssFile'):6.1f} MB"
                    f"  threads {threading.active_count()}"
                    f"  python {tracemalloc.get_traced_memory()[0] / 2**20:6.1f} MB",
                    flush=True,
                )
        growth = rss_mb() - base
        seconds = time.perf_counter() - t0
        print(f"{label}: growth after warm-up {growth:+.1f} MB over {len(rest)} retrievals ({seconds:.0f} s)")
        if snapshot is not None:
            for stat in tracemalloc.take_snapshot().compare_to(snapshot, "lineno")[:15]:
                print(f"  {stat}")
        return growth


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.soak")
    ap.add_argument("--small", type=int, default=1000, help="retrievals of small subjects")
    ap.add_argument("--heavy", type=int, default=20, help="retrievals of the heavy subject")
    ap.add_argument("--heavy-rows", type=int, default=100_000)
    ap.add_argument("--customers", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=50, help="small retrievals before the baseline (heavy: 2)")
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--trace", action="store_true", help="tracemalloc: print the sites that grew")
    ap.add_argument("--work", type=Path, default=None, help="keep the generated shop here (reused)")
    ap.add_argument("--inline", action="store_true", help="inline e-mails and task ids in the query texts")
    args = ap.parse_args()
    log.configure("WARNING")
    if args.trace:
        tracemalloc.start(1)
    work = args.work or Path(tempfile.mkdtemp(prefix="dsar-soak-"))
    shop = generate_sqlite(work / "shop", args.customers, args.heavy_rows if args.heavy else 0)
    datamap = shop.write_datamap(work / "datamap.yaml")
    with sqlite3.connect(shop.urls["shop"].removeprefix("sqlite:///")) as db:
        customers = [r[0] for r in db.execute("SELECT email FROM customers ORDER BY id LIMIT 500")]
    state = Path(tempfile.mkdtemp(prefix="dsar-soak-state-"))
    settings = Settings(
        data_dir=state,
        datamap=datamap,
        public_url="http://testserver",
        secret_key="soak-" + "k" * 32,
        log_level="WARNING",
    )
    container = Container(settings)
    print(f"start RSS {rss_mb():.1f} MB")
    try:
        with TestClient(create_app(container)) as client:
            cid, secret = container.auth.create_client("soak", ["privacy:manage"])
            token = client.post(
                "/token", data={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret}
            ).json()["access_token"]
            soak = Soak(client, token, args.inline)
            results = {}
            if args.small:
                emails = [customers[i % len(customers)] for i in range(args.small + args.warmup)]
                results["small"] = soak.run("small", emails, args.warmup, args.every, args.trace)
            if args.heavy:
                every = max(1, min(args.every, args.heavy // 4 or 1))
                results["heavy"] = soak.run("heavy", [HEAVY] * (args.heavy + 2), 2, every, args.trace)
    finally:
        container.close()
    print("| run | growth after warm-up |")
    print("|---|---|")
    for name, growth in results.items():
        print(f"| {name} | {growth:+.1f} MB |")


if __name__ == "__main__":
    main()
