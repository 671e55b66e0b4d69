"""HTTP requests and seconds per retrieval for a Stripe customer with many charges (localstripe).

`python -m bench.stripe [--charges 1000] [--runs 3]` starts localstripe on a free loopback port (as the
tests do, tests/stripe.py), gives one customer `--charges` charges, a card and a subscription, and runs the
retrieval of the demo's Stripe collections (src/dsar/demo/stripe.yaml) for her `--runs` times: the walk
and the archive, in this process. It prints one table row per run and a JSON line of the figures.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from tests.stripe import KEY, Seed, running

from dsar.connectors.http import HttpConnector
from dsar.connectors.registry import connect
from dsar.datamap.loader import parse
from dsar.engine.archive import build_archive, mask_email
from dsar.engine.execute import EngineOptions, Sources, run_retrieval
from dsar.engine.plan import build_plan
from dsar.engine.results import ArchiveMeta

EMAIL = "heavy.payer@example.com"


def measure(url: str, charges: int, runs: int) -> dict[str, Any]:
    """Seed the emulator at `url`, then retrieve `runs` times; the figures of each run."""
    seed = Seed(url)
    try:
        seed.reset()
        customer = seed.customer(EMAIL, "Heavy Payer")
        t = time.perf_counter()
        for i in range(charges):
            seed.charge(customer, 100 + i)
        seeding = time.perf_counter() - t
        seed.payment_method(customer)
        seed.subscribe(customer)
    finally:
        seed.close()
    text = resources.files("dsar.demo").joinpath("stripe.yaml").read_text(encoding="utf-8")
    dm = parse(text, "stripe.yaml", {"DSAR_DEMO_STRIPE_URL": url, "DSAR_DEMO_STRIPE_KEY": KEY})
    plan = build_plan(dm)
    sources = Sources(dm, connect)
    out: list[dict[str, Any]] = []
    try:
        stripe = sources.get("stripe")
        assert isinstance(stripe, HttpConnector)
        with tempfile.TemporaryDirectory(prefix="dsar-bench-stripe-") as work:
            for i in range(runs):
                before = stripe.session.requests
                t = time.perf_counter()
                spool = Path(work) / f"run{i}"
                spool.mkdir()
                results, reports = run_retrieval(dm, plan, sources, {"email": EMAIL}, spool, EngineOptions())
                walk = time.perf_counter() - t
                now = datetime.now(UTC)
                size = sum(
                    len(c)
                    for c in build_archive(results, reports, ArchiveMeta(f"b{i}", mask_email(EMAIL), now, now, "bench"))
                )
                out.append(
                    {
                        "requests": stripe.session.requests - before,
                        "walk_s": round(walk, 3),
                        "total_s": round(time.perf_counter() - t, 3),
                        "records": sum(r.records for r in results),
                        "archive_bytes": size,
                    }
                )
    finally:
        sources.dispose()
    return {"charges": charges, "seeding_s": round(seeding, 1), "runs": out}


def expected_requests(charges: int, page: int = 100) -> int:
    """customers, invoices, payment_methods and subscriptions fit one page each; charges need ceil(n / page)."""
    return 4 + max(1, math.ceil((charges + 1) / page))  # +1: the subscription's first invoice is a charge too


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--charges", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with running() as url:
        figures = measure(url, args.charges, args.runs)
    print(f"Stripe retrieval, one customer with {args.charges} charges (localstripe, loopback)")
    print("| run | HTTP requests | walk s | walk + archive s | records |")
    print("|---|---|---|---|---|")
    for i, run in enumerate(figures["runs"], 1):
        print(f"| {i} | {run['requests']} | {run['walk_s']:.3f} | {run['total_s']:.3f} | {run['records']} |")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
