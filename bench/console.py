"""The console's queue with many requests in the state database: server time per page, p50 and p99 (printed).

`python -m bench.console [--requests 1000000] [--database-url URL] [--samples 200]`

The requests are written in bulk (as the requests service builds them, 10,000 per statement batch), received over
the last year, a tenth of them still open; then a signed-in operator's browser is played by the ASGI app in
process (no network), so the figure is the server's time: the session check, the keyset query, the template.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import text

from dsar.api.app import create_app
from dsar.bootstrap import Container
from dsar.config import Settings
from dsar.db.migrate import upgrade
from dsar.kit.clock import FrozenClock
from dsar.requests import repository as requests_repo

TYPES = ("access", "deletion", "portability", "opt_out")
CHANNELS = ("bwp", "odr", "console", "adp")
PLACES = ("US-CA", "EU", "FR", "US-VA", None)


def fill(c: Container, count: int, clock: FrozenClock) -> None:
    rng = random.Random(15)
    now = clock.now()
    done = 0
    while done < count:
        rows = []
        for i in range(done, min(count, done + 10_000)):
            clock._now = now - timedelta(seconds=rng.uniform(0, 365 * 86400))
            place = rng.choice(PLACES)
            row, _event = c.requests._new(  # the service's own row builder
                "default", rng.choice(TYPES), rng.choice(CHANNELS), place, f"p{i}@example.com", clock.now(), True
            )
            row["responded_at"] = None
            if rng.random() > 0.1:
                row.update(status="completed", responded_at=clock.now() + timedelta(days=5))
            rows.append(row)
        with c.db.session() as s:
            requests_repo.insert_many(s, rows, [], [])
        done += len(rows)
    clock._now = now


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dsar-bench-console-"))
    settings = Settings(data_dir=tmp, database_url=args.database_url, secret_key="b" * 32, run_workers=False)
    clock = FrozenClock(datetime.now(UTC))
    c = Container(settings, clock=clock, with_workers=False)
    upgrade(c.db.engine)
    started = time.perf_counter()
    fill(c, args.requests, clock)
    with c.db.engine.begin() as conn:  # fresh statistics, as autovacuum would gather after a bulk load
        conn.execute(text("ANALYZE"))
        reference = str(conn.execute(text("SELECT max(id) FROM privacy_requests")).scalar())  # a person's reference
    backend = c.db.engine.url.get_backend_name()
    print(f"{args.requests:,} requests written in {time.perf_counter() - started:.0f} s ({backend})")
    _view, link = c.operators.create("bench@example.com", "approver", actor="bench")
    c.operators.set_password(link.split("token=", 1)[1], "bench password 1")
    with TestClient(create_app(c, migrate=False)) as client:
        page = client.get("/console/sign-in").text
        token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        data = {"csrf_token": token, "email": "bench@example.com", "password": "bench password 1"}
        assert client.post("/console/sign-in", data=data, follow_redirects=False).status_code == 303
        print("| page | p50 | p99 | samples |\n|---|---|---|---|")
        scenarios = {
            "queue, due date order": {},
            "overdue only": {"overdue": "1"},
            "open, due within 7 days": {"due_within": "7"},
            "type + jurisdiction": {"type": "deletion", "jurisdiction": "EU"},
            "received, newest first": {"sort": "received"},
            "search by e-mail (keyed hash)": {"q": "p4242@example.com"},
            "search by reference (id prefix)": {"q": reference[:8].upper()},
        }
        for name, params in scenarios.items():
            times = []
            after = None
            for i in range(args.samples):
                query = dict(params)
                if after and i % 4:  # three pages in four follow the cursor deeper into the list
                    query["after"] = after
                t0 = time.perf_counter()
                r = client.get("/console/requests", params=query)
                times.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200, r.text[:500]
                found = r.text.split('id="next-page" href="', 1)
                after = found[1].split("after=", 1)[1].split('"', 1)[0] if len(found) > 1 else None
            times.sort()
            p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
            print(f"| {name} | {statistics.median(times):.1f} ms | {p99:.1f} ms | {len(times)} |")
    c.close()


if __name__ == "__main__":
    main()
