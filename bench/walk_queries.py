"""The source queries of one retrieval, and whether PostgreSQL answers each from an index.

`python -m bench.walk_queries [--scales N ...] [--runs R]`: the bench (below).

`capture(datamap, email)` runs one subject's retrieval walk (as a worker does: dsar.engine.execute.run_retrieval)
and records every SQL statement, with its bound parameters, that the walk sends to each source (SQLAlchemy's
`before_cursor_execute` on each source engine). A first walk warms the connectors up (table reflection, pool);
the second one, the steady state of a worker, is the one recorded. `seq_scans(url, captured)` runs
`EXPLAIN (FORMAT JSON)` for each statement with its parameters and lists the sequential scans of its plan.

The bench (figures printed, not asserted) generates the demo shop in PostgreSQL at two scales with
bench.generate (`generate_series`) and prints, for jane.doe@example.com at each: the source queries per
retrieval, their seconds (median of runs), and the sequential scans their plans hold.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from dsar.connectors.registry import connect
from dsar.connectors.sql import SqlConnector
from dsar.datamap.loader import load
from dsar.engine.execute import EngineOptions, Sources, normalize_email, run_retrieval
from dsar.engine.plan import build_plan


@dataclass(frozen=True)
class Statement:
    source: str
    url: str
    sql: str
    params: Any


@dataclass
class Walk:
    statements: list[Statement] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)  # each recorded walk
    records: int = 0


def capture(datamap: Path, email: str, runs: int = 1, env: Mapping[str, str] | None = None) -> Walk:
    """The statements of one warm retrieval (the last of `runs`, after a warm-up walk) and each walk's seconds."""
    dm = load(datamap, dict(env) if env is not None else None)
    plan = build_plan(dm)
    recording: list[list[Statement]] = [[]]

    def connect_and_listen(name: str, url: str) -> Any:
        made = connect(name, url)
        if isinstance(made, SqlConnector):

            def heard(_conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> None:
                recording[0].append(Statement(name, url, statement, parameters))

            sa.event.listen(made.engine, "before_cursor_execute", heard)
        return made

    sources = Sources(dm, connect_and_listen)
    walk = Walk()
    work = Path(tempfile.mkdtemp(prefix="dsar-walk-queries-"))
    try:
        for i in range(runs + 1):
            recording[0] = []
            spool = work / f"spool{i}"
            spool.mkdir()
            t = time.perf_counter()
            results, _ = run_retrieval(dm, plan, sources, {"email": normalize_email(email)}, spool, EngineOptions())
            if i:  # the first walk reflects tables and opens connections
                walk.seconds.append(time.perf_counter() - t)
            walk.records = sum(r.records for r in results)
        walk.statements = recording[0]
    finally:
        sources.dispose()
        shutil.rmtree(work, ignore_errors=True)
    return walk


@dataclass(frozen=True)
class Scan:
    table: str
    rows: int  # the planner's estimate of the table's rows (pg_class.reltuples)
    sql: str


def _nodes(plan: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


def explain(conn: sa.Connection, st: Statement) -> list[Mapping[str, Any]]:
    """Every node of the statement's plan, as PostgreSQL would run it with these parameters."""
    (doc,) = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + st.sql, st.params).scalar_one()
    return list(_nodes(doc["Plan"]))


def seq_scans(statements: list[Statement]) -> list[Scan]:
    """The sequential scans in the plans of PostgreSQL statements, with the rows of the table scanned."""
    found: list[Scan] = []
    by_url: dict[str, list[Statement]] = {}
    for st in statements:
        by_url.setdefault(st.url, []).append(st)
    for url, sts in by_url.items():
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                for st in sts:
                    for node in explain(conn, st):
                        if node["Node Type"] == "Seq Scan":
                            table = node["Relation Name"]
                            rows = conn.exec_driver_sql(
                                "SELECT reltuples::bigint FROM pg_class WHERE oid = %(t)s::regclass", {"t": table}
                            ).scalar_one()
                            found.append(Scan(table, int(rows), st.sql))
        finally:
            engine.dispose()
    return found


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.walk_queries")
    ap.add_argument(
        "--scales",
        type=int,
        nargs="+",
        default=[1000, 1_000_000],
        help="customers per generated shop (order_items, the biggest table, holds about 10 rows per customer)",
    )
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    from bench.generate import SUBJECT, generate_postgres
    from dsar.cli.progress import ProgressLine

    lines = [
        "| customers | rows in all tables | order_items rows | her records | source queries | walk (median) | "
        "Seq Scans in their plans |",
        "|---|---|---|---|---|---|---|",
    ]
    for scale in args.scales:
        gen = generate_postgres(scale, progress=ProgressLine(f"generating {scale:,} customers"))
        with tempfile.TemporaryDirectory() as tmp:
            walk = capture(gen.write_datamap(Path(tmp) / "datamap.yaml"), SUBJECT, args.runs)
        engine = sa.create_engine(gen.urls["shop"])
        with engine.connect() as conn:
            items = conn.exec_driver_sql("SELECT count(*) FROM order_items").scalar_one()
        engine.dispose()
        scans = ", ".join(f"{s.table} ({s.rows:,} rows)" for s in seq_scans(walk.statements)) or "none"
        lines.append(
            f"| {scale:,} | {gen.rows:,} | {items:,} | {walk.records} | {len(walk.statements)} | "
            f"{statistics.median(walk.seconds) * 1000:.1f} ms | {scans} |"
        )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
