"""On PostgreSQL every query of the demo's retrieval walk is answered from an index (EXPLAIN of each)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from bench.walk_queries import capture, explain, seq_scans

from dsar.demo.generate import SUBJECT_EMAIL
from dsar.demo.load import copy_sources, datamap_for

# A sequential scan of a table this small can be the planner's honest choice (a page or two); above it, a
# lookup of one subject must not read the whole table.
SMALL = 200


@pytest.mark.postgres
def test_every_query_of_the_walk_uses_an_index(demo_dir: Path, tmp_path: Path, pg_url: str) -> None:
    urls = {"shop": pg_url, "support": pg_url}
    copy_sources(demo_dir, urls)
    engine = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")  # the planner's statistics, as autovacuum would gather them
        sizes: dict[str, int] = dict(conn.exec_driver_sql("SELECT relname, n_live_tup FROM pg_stat_user_tables").all())
    datamap = tmp_path / "datamap.yaml"
    datamap.write_text(datamap_for(demo_dir, urls), encoding="utf-8")

    walk = capture(datamap, SUBJECT_EMAIL)

    # One query per collection of the data map (her rows fit in one batch everywhere).
    table_of = {st.sql: next(t for t in sizes if f"FROM {t} " in st.sql) for st in walk.statements}
    assert len(walk.statements) == len(set(table_of.values())) == 10, list(table_of)
    assert walk.records > 0
    big = {t for t, n in sizes.items() if n > SMALL}
    assert set(table_of.values()) <= big, sizes  # every table the walk reads is big enough to need an index
    scans = [s for s in seq_scans(walk.statements) if s.rows > SMALL]
    assert scans == [], "\n".join(f"Seq Scan on {s.table} ({s.rows} rows): {s.sql}" for s in scans)
    with engine.connect() as conn:
        for st in walk.statements:
            if table_of[st.sql] in big:
                kinds = {n["Node Type"] for n in explain(conn, st)}
                assert kinds & {"Index Scan", "Index Only Scan", "Bitmap Index Scan"}, (st.sql, kinds)
    engine.dispose()


@pytest.mark.postgres
def test_a_query_without_its_index_is_found(demo_dir: Path, tmp_path: Path, pg_url: str) -> None:
    """The check above can fail: drop the index of login_events.customer_id and its lookup is a Seq Scan."""
    urls = {"shop": pg_url, "support": pg_url}
    copy_sources(demo_dir, urls)
    engine = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql("DROP INDEX ix_login_events_customer_id")
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    datamap = tmp_path / "datamap.yaml"
    datamap.write_text(datamap_for(demo_dir, urls), encoding="utf-8")

    scans = [s for s in seq_scans(capture(datamap, SUBJECT_EMAIL).statements) if s.rows > SMALL]

    assert [s.table for s in scans] == ["login_events"]
