"""The demo data: deterministic, reusable, Jane in every personal collection, copyable to real servers."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from dsar.datamap.loader import load, parse
from dsar.datamap.model import DataMap
from dsar.demo.generate import (
    LOOKALIKE_EMAILS,
    LOOKALIKE_TICKET_EMAIL,
    MARKER_TABLE,
    SUBJECT_EMAIL,
    DemoInfo,
    build_demo,
)
from dsar.demo.load import copy_sources, datamap_for

CUSTOMERS = 500


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoInfo:
    return build_demo(tmp_path_factory.mktemp("demo"), customers=CUSTOMERS)


@pytest.fixture(scope="module")
def datamap(demo: DemoInfo) -> DataMap:
    return load(demo.datamap, env=demo.env)


def _db(demo: DemoInfo, source: str) -> sqlite3.Connection:
    return sqlite3.connect(demo.directory / f"{source}.sqlite")


def _tables(con: sqlite3.Connection) -> list[str]:
    return [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]


def _contents(directory: Path) -> dict[str, list[tuple[object, ...]]]:
    out: dict[str, list[tuple[object, ...]]] = {}
    for source in ("shop", "support"):
        with closing(sqlite3.connect(directory / f"{source}.sqlite")) as con:
            for table in _tables(con):
                out[f"{source}.{table}"] = con.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
    return out


def _walk(demo: DemoInfo, dm: DataMap, email: str) -> dict[str, list[sqlite3.Row]]:
    """The subject's rows per collection, found the way the engine walks: identities, then references."""
    found: dict[str, list[sqlite3.Row]] = {}
    while len(found) < len(dm.collections):
        progressed = False
        for key, coll in dm.collections.items():
            if key in found or any(ref.parent not in found for ref in coll.references):
                continue
            table = dm.table_of(key)
            with closing(_db(demo, dm.source_of(key))) as con:
                con.row_factory = sqlite3.Row
                rows: dict[object, sqlite3.Row] = {}
                for ident in coll.identities.values():
                    assert ident.match == "lower_trim"
                    sql = f"SELECT * FROM {table} WHERE lower(trim({ident.column})) = ?"
                    rows.update((r["id"], r) for r in con.execute(sql, (email,)))
                for ref in coll.references:
                    values = sorted({r[ref.parent_column] for r in found[ref.parent]})
                    marks = ", ".join("?" * len(values))
                    sql = f"SELECT * FROM {table} WHERE {ref.column} IN ({marks})"
                    rows.update((r["id"], r) for r in con.execute(sql, values))
            found[key] = list(rows.values())
            progressed = True
        assert progressed, "some collections are not reachable from an identity"
    return found


def test_same_seed_gives_identical_contents(demo: DemoInfo, tmp_path: Path) -> None:
    again = build_demo(tmp_path / "again", customers=CUSTOMERS)
    assert again.built
    assert _contents(again.directory) == _contents(demo.directory)
    other = build_demo(tmp_path / "other", customers=CUSTOMERS, seed=7)
    assert _contents(other.directory)["shop.customers"] != _contents(demo.directory)["shop.customers"]


def test_datamap_loads_and_covers_every_personal_table(demo: DemoInfo, datamap: DataMap) -> None:
    assert demo.datamap.read_text(encoding="utf-8").startswith("#")
    assert sorted(datamap.collections) == sorted(
        [
            f"shop.{t}"
            for t in (
                "customers",
                "addresses",
                "orders",
                "order_items",
                "payments",
                "product_reviews",
                "login_events",
                "marketing_consents",
            )
        ]
        + ["support.tickets", "support.messages"]
    )
    assert datamap.sources["shop"].url == f"sqlite:///{demo.directory}/shop.sqlite"
    assert datamap.collections["shop.customers"].exclude == ["password_hash"]
    for coll in datamap.collections.values():
        assert coll.fields and coll.processing.purpose and coll.processing.recipients
    for source in ("shop", "support"):
        with closing(_db(demo, source)) as con:
            tables = set(_tables(con)) - {MARKER_TABLE, "products", "categories"}
        assert tables == {datamap.table_of(k) for k in datamap.collections if k.startswith(f"{source}.")}


def test_jane_is_in_every_personal_collection(demo: DemoInfo, datamap: DataMap) -> None:
    assert demo.subject_email == SUBJECT_EMAIL
    found = _walk(demo, datamap, SUBJECT_EMAIL)
    assert {k: bool(v) for k, v in found.items()} == dict.fromkeys(datamap.collections, True)
    assert [r["id"] for r in found["shop.customers"]] == [1]
    assert len(found["shop.orders"]) >= 3
    statuses = {r["status"] for r in found["shop.orders"]}
    assert "shipped" in statuses and "delivered" in statuses
    assert {r["order_id"] for r in found["shop.payments"]} <= {r["id"] for r in found["shop.orders"]}
    tickets = {r["requester_email"] for r in found["support.tickets"]}
    assert tickets == {SUBJECT_EMAIL, "  Jane.Doe@Example.COM "}
    assert any(r["title"].startswith("=") for r in found["shop.product_reviews"])
    assert any("<script>" in r["body"] for r in found["support.messages"])


def test_lookalikes_exist_but_do_not_match(demo: DemoInfo, datamap: DataMap) -> None:
    with closing(_db(demo, "shop")) as shop, closing(_db(demo, "support")) as support:
        for email in LOOKALIKE_EMAILS:
            (cid,) = shop.execute("SELECT id FROM customers WHERE email = ?", (email,)).fetchone()
            assert shop.execute("SELECT count(*) FROM orders WHERE customer_id = ?", (cid,)).fetchone()[0]
        sql = "SELECT count(*) FROM tickets WHERE requester_email = ?"
        assert support.execute(sql, (LOOKALIKE_TICKET_EMAIL,)).fetchone()[0] == 1
        emails = [r[0] for r in shop.execute("SELECT lower(trim(email)) FROM customers")]
    assert len(emails) == len(set(emails)) == CUSTOMERS
    found = _walk(demo, datamap, LOOKALIKE_TICKET_EMAIL)
    assert not found["shop.customers"] and len(found["support.tickets"]) == 1


def test_foreign_keys_hold_and_identity_lookups_use_an_index(demo: DemoInfo) -> None:
    for source, table, column in (("shop", "customers", "email"), ("support", "tickets", "requester_email")):
        with closing(_db(demo, source)) as con:
            assert con.execute("PRAGMA foreign_key_check").fetchall() == []
            assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            sql = f"EXPLAIN QUERY PLAN SELECT * FROM {table} WHERE lower(trim({column})) = ?"
            plan = " ".join(str(r[-1]) for r in con.execute(sql, (SUBJECT_EMAIL,)))
            assert f"USING INDEX ix_{table}_{column}_normalized" in plan
    with closing(_db(demo, "shop")) as con:
        fk_columns = {(t, fk[3]) for t in _tables(con) for fk in con.execute(f"PRAGMA foreign_key_list({t})")}
        indexed = {
            (t, col[2])
            for t in _tables(con)
            for ix in con.execute(f"PRAGMA index_list({t})")
            for col in con.execute(f"PRAGMA index_info({ix[1]})")
        }
    assert fk_columns and fk_columns <= indexed


def test_timestamps_are_iso_utc_text(demo: DemoInfo) -> None:
    with closing(_db(demo, "shop")) as con:
        placed, total = con.execute("SELECT placed_at, total_amount FROM orders WHERE id = 1").fetchone()
        types = {r[1]: r[2] for r in con.execute("PRAGMA table_info(orders)")}
    assert len(placed) == 19 and placed[10] == " " and placed.startswith("2023-05-02")
    assert types["placed_at"] == "DATETIME" and types["total_amount"].startswith("NUMERIC")
    assert isinstance(total, int | float)


def test_reuse_does_not_rebuild(tmp_path: Path) -> None:
    first = build_demo(tmp_path, customers=20)
    mtimes = {p: p.stat().st_mtime_ns for p in (first.shop, first.support, first.datamap)}
    again = build_demo(tmp_path, customers=20)
    assert not again.built
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["datamap.yaml", "shop.sqlite", "support.sqlite"]
    assert build_demo(tmp_path, customers=21).built  # other settings: rebuilt


def test_half_built_demo_is_rebuilt(tmp_path: Path) -> None:
    first = build_demo(tmp_path, customers=20)
    with closing(sqlite3.connect(first.support)) as con, con:
        con.execute(f"DROP TABLE {MARKER_TABLE}")
    assert build_demo(tmp_path, customers=20).built
    first.shop.write_bytes(b"not a database")
    assert build_demo(tmp_path, customers=20).built
    with pytest.raises(ValueError, match="at least"):
        build_demo(tmp_path, customers=3)


def _counts(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            names = sa.inspect(conn).get_table_names()
            return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in names}
    finally:
        engine.dispose()


def _sqlite_counts(demo: DemoInfo, source: str) -> dict[str, int]:
    with closing(_db(demo, source)) as con:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in _tables(con) if t != MARKER_TABLE}


def _scalar(url: str, sql: str, **params: object) -> object:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar_one()
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.mysql
def test_copy_sources_to_postgres_and_mariadb(demo: DemoInfo, pg_url: str, mysql_url: str) -> None:
    """Uses the shared fresh-database fixtures of tests/conftest.py (skip or fail per DSAR_TEST_SERVICES)."""
    postgres_url = pg_url
    targets = {"shop": postgres_url, "support": mysql_url}
    copy_sources(demo.directory, targets)
    copy_sources(demo.directory, targets)  # existing tables are replaced, not appended to
    assert _counts(postgres_url) == _sqlite_counts(demo, "shop")
    assert _counts(mysql_url) == _sqlite_counts(demo, "support")

    sql = "SELECT count(*) FROM customers WHERE lower(trim(email)) = :e"
    assert _scalar(postgres_url, sql, e=SUBJECT_EMAIL) == 1
    with closing(_db(demo, "shop")) as con:
        (total,) = con.execute("SELECT printf('%.2f', total_amount) FROM orders WHERE id = 1").fetchone()
    assert _scalar(postgres_url, "SELECT total_amount FROM orders WHERE id = 1") == Decimal(total)
    indexdef = _scalar(
        postgres_url, "SELECT indexdef FROM pg_indexes WHERE indexname = :n", n="ix_customers_email_normalized"
    )
    assert "lower(TRIM(BOTH FROM email))" in str(indexdef)
    assert _scalar(postgres_url, "SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_orders_customer_id'")

    sql = "SELECT count(*) FROM tickets WHERE requester_email_normalized = :e"
    assert _scalar(mysql_url, sql, e=SUBJECT_EMAIL) == 2
    sql = (
        "SELECT count(*) FROM information_schema.statistics WHERE table_schema = DATABASE() "
        "AND index_name = 'ix_tickets_requester_email_normalized'"
    )
    assert _scalar(mysql_url, sql) == 1

    dm = parse(datamap_for(demo.directory, targets))
    assert dm.sources["shop"].url == postgres_url and dm.sources["support"].url == mysql_url
    assert dm.collections["shop.customers"].identities["email"].match == "lower_trim"
    ident = dm.collections["support.tickets"].identities["email"]
    assert (ident.column, ident.match) == ("requester_email_normalized", "exact")
    assert "requester_email_normalized" in dm.collections["support.tickets"].exclude
    local = parse(datamap_for(demo.directory, {}))
    assert local.sources["support"].url == f"sqlite:///{demo.directory}/support.sqlite"
