"""Privacy requests at scale on PostgreSQL (issue 14): figures printed, nothing asserted.

`python -m bench.cases [--requests 1000000] [--url postgresql+psycopg://postgres@127.0.0.1:5432/test]`

Makes a database of its own on the server, migrates it, generates a year of requests in SQL (generate_series:
types, channels, jurisdictions, statuses, decisions and response times drawn at random), then times through
`PrivacyRequests` as the API and the CLI call it:
  - pages of `privacyRequests` (50 a page), unfiltered and with each filter, walked 20 pages deep by cursor
    (aim: 50 ms a page);
  - the §7102 metrics of the year, for one tenant and for all (aim: 2 s).
The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from dsar.db.engine import Database, make_engine
from dsar.db.migrate import upgrade
from dsar.kit.clock import FrozenClock
from dsar.requests.rules import load_rules
from dsar.requests.service import Filter, PrivacyRequests

NOW = datetime(2027, 1, 10, 12, 0, tzinfo=UTC)

# One INSERT ... SELECT: each row's fate drawn from random() once per row (lateral), in the server.
GENERATE = """
INSERT INTO privacy_requests (id, tenant, type, channel, jurisdiction, rule, subject_ref, subject_masked, status,
    received_at, received_on, due_on, extendable_until, assignee, decision, decision_basis, decided_by, decided_at,
    responded_at, response_days, late, updated_at)
SELECT md5(i::text || 'id')::uuid::text,
       CASE WHEN i % 10 = 0 THEN 'other' ELSE 'default' END,
       (ARRAY['access','deletion','portability','rectification','opt_out','categories'])[1 + (r.a * 6)::int % 6],
       (ARRAY['bwp','bulk','odr','adp','console','privacy_center'])[1 + (r.b * 6)::int % 6],
       (ARRAY['US-CA','FR','DE','US-VA','GB','BR'])[1 + (r.c * 6)::int % 6],
       (ARRAY['ccpa','gdpr','gdpr','vcdpa','uk-gdpr','lgpd'])[1 + (r.c * 6)::int % 6],
       substr(md5(i::text), 1, 32),
       'x***@example.com',
       CASE WHEN r.d < 0.70 THEN 'completed' WHEN r.d < 0.85 THEN 'denied' WHEN r.d < 0.90 THEN 'canceled'
            WHEN r.d < 0.95 THEN 'in_progress' ELSE 'received' END,
       t.at, t.at::date, t.at::date + 45, t.at::date + 90,
       CASE WHEN r.e < 0.3 THEN 'alice' WHEN r.e < 0.6 THEN 'bob' ELSE NULL END,
       CASE WHEN r.d < 0.70 THEN CASE WHEN r.e < 0.1 THEN 'partial' ELSE 'approved' END
            WHEN r.d < 0.85 THEN 'denied' WHEN r.d >= 0.90 AND r.d < 0.95 THEN 'approved' END,
       CASE WHEN r.d >= 0.70 AND r.d < 0.85 THEN
            (ARRAY['identity_not_verified','manifestly_unfounded','no_data_held','legal_exemption'])
            [1 + (r.e * 4)::int % 4]
       END,
       'policy', t.at,
       CASE WHEN r.d < 0.85 THEN t.at + (r.f * 50) * interval '1 day' END,
       CASE WHEN r.d < 0.85 THEN (t.at + (r.f * 50) * interval '1 day')::date - t.at::date END,
       CASE WHEN r.d < 0.85 THEN (t.at + (r.f * 50) * interval '1 day')::date > t.at::date + 45 END,
       t.at
FROM generate_series(1, :n) AS i,
     LATERAL (SELECT random() AS a, random() AS b, random() AS c, random() AS d, random() AS e, random() AS f,
                     i AS k) AS r,
     LATERAL (SELECT timestamptz '2026-01-01 00:00:00+00' + (i::float8 / :n) * interval '365 days' AS at) AS t
"""


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def walk(svc: PrivacyRequests, f: Filter, pages: int) -> list[float]:
    """Milliseconds of each page of 50, following the cursor `pages` deep."""
    times = []
    after: str | None = None
    for _ in range(pages):
        t0 = time.perf_counter()
        page = svc.page("default", f, first=50, after=after)
        times.append((time.perf_counter() - t0) * 1000)
        if not page.has_next_page:
            break
        after = page.end_cursor
    return times


class LastPageQuery:
    """Keeps the last page statement the service sent (to EXPLAIN ANALYZE it: the server's share of a page)."""

    def __init__(self, db: Database) -> None:
        self.statement: str | None = None
        self.params: Any = None
        event.listen(db.engine, "before_cursor_execute", self._seen)

    def _seen(self, conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().startswith("SELECT privacy_requests.id") and "LIMIT" in statement:
            self.statement, self.params = statement, params

    def server_ms(self, db: Database) -> float:
        assert self.statement is not None
        raw = db.engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + self.statement, self.params)
            plan = cur.fetchone()[0]
            return float(plan[0]["Execution Time"])
        finally:
            raw.close()


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.cases")
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--pages", type=int, default=20)
    args = ap.parse_args()
    name = f"bench_cases_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = make_url(args.url).set(database=name).render_as_string(hide_password=False)
    db = Database(make_engine(url))
    try:
        upgrade(db.engine)
        t0 = time.perf_counter()
        with db.engine.begin() as conn:
            conn.execute(text(GENERATE), {"n": args.requests})
            conn.execute(text("ANALYZE privacy_requests"))
        print(f"generated {args.requests:,} requests of 2026 in {time.perf_counter() - t0:.1f} s (PostgreSQL)")
        svc = PrivacyRequests(db=db, clock=FrozenClock(NOW), rules=load_rules(), subject_key=b"k" * 32)
        last = LastPageQuery(db)
        filters = {
            "none": Filter(),
            "status=received": Filter(status="received"),
            "status=completed": Filter(status="completed"),
            "type=deletion": Filter(type="deletion"),
            "jurisdiction=FR": Filter(jurisdiction="FR"),
            "assignee=alice": Filter(assignee="alice"),
            "overdue": svc.overdue_filter(),
            "type+status": Filter(type="access", status="in_progress"),
            "channel=odr": Filter(channel="odr"),
        }
        print(f"\n| privacyRequests page (50), {args.pages} pages deep | median | p95 | max | server, last page |")
        print("|---|---|---|---|---|")
        for label, f in filters.items():
            walk(svc, f, 2)  # warm the cache and the statement
            ms = walk(svc, f, args.pages)
            p95 = sorted(ms)[max(0, int(len(ms) * 0.95) - 1)]
            server = last.server_ms(db)
            print(f"| {label} | {statistics.median(ms):.1f} ms | {p95:.1f} ms | {max(ms):.1f} ms | {server:.1f} ms |")
        print("\n| metrics of the year (§7102) | median of 3 | min | max |")
        print("|---|---|---|---|")
        for label, tenant in (("tenant default (90%)", "default"), ("all tenants", None)):
            ms = timed(lambda t=tenant: svc.metrics(t, date(2026, 1, 1), date(2027, 1, 1)), 3)  # type: ignore[misc]
            print(f"| {label} | {statistics.median(ms):.0f} ms | {min(ms):.0f} ms | {max(ms):.0f} ms |")
    finally:
        db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


if __name__ == "__main__":
    main()
