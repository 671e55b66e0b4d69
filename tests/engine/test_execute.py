"""Running a plan against real databases: exact rows, matching, chunking, cycles, types, failures, memory."""

from __future__ import annotations

import base64
import re
import sqlite3
import sys
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError
from structlog.testing import capture_logs

from dsar.connectors.base import Condition, Connector, Read, Row, groups, unavailable
from dsar.connectors.registry import connect
from dsar.connectors.sql import SqlConnector
from dsar.datamap.model import DataMap
from dsar.engine.execute import EngineOptions, Sources, run_retrieval
from dsar.engine.plan import build_plan
from dsar.engine.results import CollectionResult, SourceReport
from dsar.errors import SourceError

JANE = "jane.doe@example.com"
PROCESSING = {"purpose": "p", "legal_basis": "b", "retention": "r"}
NO_SLEEP = EngineOptions(sleep=lambda s: None)
Spools = dict[str, list[dict[str, Any]]]


@pytest.fixture(autouse=True)
def logs() -> Iterator[list[dict[str, Any]]]:
    """The engine's log events; captured, so they reach no stream an earlier test may have closed."""
    with capture_logs() as captured:
        yield captured


def retry_events(logs: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    return [(e["source"], e["collection"], e["attempt"]) for e in logs if e["event"] == "source_read_failed"]


# --- helpers -------------------------------------------------------------------------------------------


def coll(
    *refs: tuple[str, str],
    identity: str | None = None,
    exclude: Sequence[str] = (),
    table: str | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "primary_key": ["id"],
        "references": [{"column": c, "to": to} for c, to in refs],
        "exclude": list(exclude),
        "processing": PROCESSING,
    }
    if identity:
        out["identities"] = {"email": {"column": identity, "match": "lower_trim"}}
    if table:
        out["table"] = table
    return out


def datamap(urls: dict[str, str], collections: dict[str, dict[str, Any]]) -> DataMap:
    return DataMap.model_validate(
        {"sources": {name: {"url": url} for name, url in urls.items()}, "collections": collections}
    )


def retrieve(
    dm: DataMap,
    spool_dir: Path,
    email: str = JANE,
    opts: EngineOptions = NO_SLEEP,
    sources: Sources | None = None,
) -> tuple[dict[str, CollectionResult], list[SourceReport]]:
    spool_dir.mkdir(parents=True, exist_ok=True)
    own = sources is None
    srcs = Sources(dm, connect) if sources is None else sources
    try:
        results, reports = run_retrieval(dm, build_plan(dm), srcs, {"email": email}, spool_dir, opts)
    finally:
        if own:
            srcs.dispose()
    return {r.key: r for r in results}, reports


def spooled(results: dict[str, CollectionResult]) -> Spools:
    out: Spools = {}
    for key, res in results.items():
        if res.spool is not None and res.spool.exists():
            out[key] = [orjson.loads(line) for line in res.spool.read_bytes().splitlines()]
    return out


def ids(rows: list[dict[str, Any]]) -> list[int]:
    return sorted(int(r["id"]) for r in rows)


def sqlite_db(path: Path, script: str, rows: dict[str, list[tuple[Any, ...]]]) -> str:
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript(script)
        for table, values in rows.items():
            if values:
                marks = ", ".join("?" * len(values[0]))
                conn.executemany(f"INSERT INTO {table} VALUES ({marks})", values)
        conn.commit()
    return f"sqlite:///{path}"


# --- the shop: one schema, created with SQLAlchemy Core on SQLite, PostgreSQL and MariaDB --------------

META = sa.MetaData()
CUSTOMERS = sa.Table(
    "customers",
    META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("email", sa.String(254), nullable=False),
    sa.Column("name", sa.String(100)),
    sa.Column("password_hash", sa.String(100), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("last_seen", sa.DateTime(timezone=True)),
    sa.Column("birth_date", sa.Date),
    sa.Column("balance", sa.Numeric(12, 2)),
    sa.Column("avatar", sa.LargeBinary),
)
ORDERS = sa.Table(
    "orders",
    META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("customer_id", sa.Integer, nullable=False, index=True),
    sa.Column("total", sa.Numeric(10, 2), nullable=False),
)
ITEMS = sa.Table(
    "order_items",
    META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("order_id", sa.Integer, nullable=False, index=True),
    sa.Column("product", sa.String(50), nullable=False),
)
NOTES = sa.Table(  # reached along two references: the customer's and the order's
    "notes",
    META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("customer_id", sa.Integer, index=True),
    sa.Column("order_id", sa.Integer, index=True),
    sa.Column("body", sa.String(200), nullable=False),
)
TICKETS = sa.Table(
    "tickets",
    META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("requester_email", sa.String(254), nullable=False),
    sa.Column("subject", sa.String(200), nullable=False),
)
MESSAGES = sa.Table(
    "messages",
    META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("ticket_id", sa.Integer, nullable=False, index=True),
    sa.Column("body", sa.Text, nullable=False),
)
HASH = "$argon2id$v=19$secret-hash-value"
CUSTOMER_ROWS = [
    # Jane twice: stored with spaces and capitals, and in upper case (a second account)
    (1, "  Jane.Doe@Example.com ", "Jane Doe", HASH, datetime(2024, 1, 2, 3, 4, 5),
     datetime(2024, 6, 1, 12, 0, tzinfo=UTC), date(1990, 5, 17), Decimal("1234.50"), b"\x89PNG\x00\xff"),
    (2, "jane.doe@example.org", "Look Alike", HASH, datetime(2024, 1, 1), None, None, None, None),
    (3, "xjane.doe@example.com", "Look Alike", HASH, datetime(2024, 1, 1), None, None, None, None),
    (4, "jane.doe2@example.com", "Look Alike", HASH, datetime(2024, 1, 1), None, None, None, None),
    (5, "JANE.DOE@EXAMPLE.COM", None, HASH, datetime(2025, 12, 31, 23, 59, 59), None, None, None, None),
    (6, "bob@example.com", "Bob", HASH, datetime(2024, 1, 1), None, None, Decimal("-3.10"), None),
]  # fmt: skip
ORDER_ROWS = [(10, 1, "10.00"), (11, 1, "20.50"), (12, 5, "7.25"), (13, 2, "1.00"), (14, 6, "2.00"), (15, 1, "3.00")]
ITEM_ROWS = [(100 + i, order, f"p{i}") for i, order in enumerate([10, 10, 11, 12, 13, 14, 14, 15, 99])]
NOTE_ROWS = [
    (200, 1, 10, "customer and order: must appear once"),
    (201, 1, None, "customer only"),
    (202, 6, 11, "someone else's note on Jane's order"),
    (203, 6, 14, "not Jane's"),
    (204, None, 12, "order of the second account"),
    (205, 2, 13, "look-alike"),
]
TICKET_ROWS = [(300, "jane.doe@example.com ", "Refund"), (301, "JANE.doe@example.com", "Where is it"),
               (302, "jane.doe@example.co", "look-alike"), (303, "bob@example.com", "Bob's")]  # fmt: skip
MESSAGE_ROWS = [(400, 300, "hello"), (401, 300, "answer"), (402, 301, "hi"), (403, 302, "nope"), (404, 303, "bob")]


def build_shop(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        META.create_all(engine)
        batches: list[tuple[sa.Table, Sequence[tuple[Any, ...]]]] = [
            (CUSTOMERS, CUSTOMER_ROWS),
            (ORDERS, [(i, c, Decimal(t)) for i, c, t in ORDER_ROWS]),
            (ITEMS, ITEM_ROWS),
            (NOTES, NOTE_ROWS),
            (TICKETS, TICKET_ROWS),
            (MESSAGES, MESSAGE_ROWS),
        ]
        with engine.begin() as conn:
            for table, rows in batches:
                conn.execute(table.insert(), [dict(zip(table.c.keys(), row, strict=True)) for row in rows])
    finally:
        engine.dispose()


def shop_datamap(url: str) -> DataMap:
    return datamap(
        {"shop": url},
        {
            "shop.customers": coll(identity="email", exclude=["password_hash"]),
            "shop.orders": coll(("customer_id", "shop.customers.id")),
            "shop.order_items": coll(("order_id", "shop.orders.id")),
            "shop.notes": coll(("customer_id", "shop.customers.id"), ("order_id", "shop.orders.id")),
            "shop.tickets": coll(identity="requester_email"),
            "shop.messages": coll(("ticket_id", "shop.tickets.id")),
        },
    )


EXPECTED_IDS = {
    "shop.customers": [1, 5],
    "shop.orders": [10, 11, 12, 15],
    "shop.order_items": [100, 101, 102, 103, 107],
    "shop.notes": [200, 201, 202, 204],
    "shop.tickets": [300, 301],
    "shop.messages": [400, 401, 402],
}
TOTAL = sum(len(v) for v in EXPECTED_IDS.values())
JANE_ROW = {
    "id": 1,
    "email": "  Jane.Doe@Example.com ",
    "name": "Jane Doe",
    "created_at": "2024-01-02T03:04:05Z",
    "last_seen": "2024-06-01T12:00:00Z",
    "birth_date": "1990-05-17",
    "balance": "1234.50",
    "avatar": base64.b64encode(b"\x89PNG\x00\xff").decode(),
}


def direct_sql(url: str, email: str) -> dict[str, list[int]]:
    """The same answer, written by hand as plain SQL."""
    engine = sa.create_engine(url)
    q = {
        "shop.customers": "SELECT id FROM customers WHERE lower(trim(email)) = :e",
        "shop.orders": "SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id "
        "WHERE lower(trim(c.email)) = :e",
        "shop.order_items": "SELECT i.id FROM order_items i JOIN orders o ON o.id = i.order_id "
        "JOIN customers c ON c.id = o.customer_id WHERE lower(trim(c.email)) = :e",
        "shop.notes": "SELECT n.id FROM notes n WHERE n.customer_id IN (SELECT id FROM customers "
        "WHERE lower(trim(email)) = :e) OR n.order_id IN (SELECT o.id FROM orders o JOIN customers c "
        "ON c.id = o.customer_id WHERE lower(trim(c.email)) = :e)",
        "shop.tickets": "SELECT id FROM tickets WHERE lower(trim(requester_email)) = :e",
        "shop.messages": "SELECT m.id FROM messages m JOIN tickets t ON t.id = m.ticket_id "
        "WHERE lower(trim(t.requester_email)) = :e",
    }
    try:
        with engine.connect() as conn:
            return {k: sorted(conn.execute(sa.text(sql), {"e": email}).scalars()) for k, sql in q.items()}
    finally:
        engine.dispose()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ]
)
def shop_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'shop.sqlite'}"
    elif request.param == "postgres":
        url = request.getfixturevalue("pg_url")
        admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:  # timestamptz then comes back as +01:00/+02:00 unless converted
            conn.execute(sa.text(f"ALTER DATABASE \"{sa.make_url(url).database}\" SET timezone TO 'Europe/Berlin'"))
        admin.dispose()
    else:
        url = request.getfixturevalue("mysql_url")
    build_shop(url)
    return url


# --- tests ---------------------------------------------------------------------------------------------


def test_the_subjects_rows_are_exactly_those_of_direct_sql(shop_url: str, tmp_path: Path) -> None:
    dm = shop_datamap(shop_url)
    results, reports = retrieve(dm, tmp_path / "spool", email="  Jane.Doe@Example.COM ")
    rows = spooled(results)
    assert {k: ids(v) for k, v in rows.items()} == EXPECTED_IDS
    assert {k: ids(v) for k, v in rows.items()} == direct_sql(shop_url, JANE)
    for key, expected in EXPECTED_IDS.items():
        assert results[key].records == len(expected) == len(rows[key])
        assert results[key].status == "found"
        assert ids(rows[key]) == [r["id"] for r in rows[key]]  # written in primary-key order
    assert rows["shop.customers"][0] == JANE_ROW
    assert rows["shop.customers"][1]["name"] is None and rows["shop.customers"][1]["balance"] is None
    assert rows["shop.orders"][0] == {"id": 10, "customer_id": 1, "total": "10.00"}
    assert [(r.name, r.status, r.records) for r in reports] == [("shop", "found", TOTAL)]
    assert b"secret-hash-value" not in b"".join(p.read_bytes() for p in (tmp_path / "spool").iterdir())


def test_a_walk_in_the_calling_thread_finds_the_same_rows(
    shop_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """parallel=False (a busy worker) reads every collection in the caller's thread, in plan order, and finds
    exactly what the parallel walk finds."""
    import threading

    from dsar.engine import execute

    dm = shop_datamap(shop_url)
    threads: dict[bool, set[str]] = {True: set(), False: set()}
    plain = execute._Run.run_unit
    mode = [True]

    def recording(self: Any, unit: Any) -> None:
        threads[mode[0]].add(threading.current_thread().name)
        plain(self, unit)

    monkeypatch.setattr(execute._Run, "run_unit", recording)
    srcs = Sources(dm, connect)
    try:
        found = {}
        for parallel in (True, False):
            mode[0] = parallel
            spool = tmp_path / f"spool-{parallel}"
            spool.mkdir()
            results, _ = run_retrieval(dm, build_plan(dm), srcs, {"email": JANE}, spool, NO_SLEEP, parallel=parallel)
            found[parallel] = {r.key: (r.records, r.spool.read_bytes() if r.spool else b"") for r in results}
    finally:
        srcs.dispose()
    assert found[False] == found[True] and sum(n for n, _ in found[True].values()) == TOTAL
    assert threads[False] == {threading.current_thread().name}
    assert all(name.startswith("dsar-read") for name in threads[True])


@pytest.mark.postgres
def test_connections_cut_by_the_database_are_replaced(pg_url: str, tmp_path: Path) -> None:
    """Sources do not ping each connection they take from the pool (a round trip per query): a connection
    the server closed meanwhile fails the read, the pool drops it, and the retry reads on a new one."""
    build_shop(pg_url)
    dm = shop_datamap(pg_url)
    sources = Sources(dm, connect)
    try:
        first, _ = retrieve(dm, tmp_path / "a", sources=sources)
        admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            cut = conn.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar()
        admin.dispose()
        assert cut  # the pool's idle connections were closed by the server
        again, _ = retrieve(dm, tmp_path / "b", sources=sources)
        assert spooled(again) == spooled(first)
    finally:
        sources.dispose()


def test_email_is_matched_trimmed_and_case_insensitively_and_nothing_else(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.sqlite'}"
    build_shop(url)
    dm = shop_datamap(url)
    for n, variant in enumerate(["  Jane.Doe@Example.COM ", "jane.doe@example.com", "JANE.DOE@EXAMPLE.COM\t"]):
        results, _ = retrieve(dm, tmp_path / f"s{n}", email=variant)
        assert ids(spooled(results)["shop.customers"]) == [1, 5], variant
        assert ids(spooled(results)["shop.tickets"]) == [300, 301], variant
    results, _ = retrieve(dm, tmp_path / "look-alike", email="Jane.Doe@Example.co")
    assert {k: ids(v) for k, v in spooled(results).items()} == {
        **{key: [] for key in EXPECTED_IDS},
        "shop.tickets": [302],
        "shop.messages": [403],
    }
    results, reports = retrieve(dm, tmp_path / "nobody", email="jane.doe@example")
    assert {k: len(v) for k, v in spooled(results).items()} == dict.fromkeys(EXPECTED_IDS, 0)
    assert all(r.status == "not_found" for r in results.values())
    assert reports[0].status == "not_found" and reports[0].records == 0


def test_a_collection_reached_by_two_references_gets_each_row_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.sqlite'}"
    build_shop(url)
    dm = shop_datamap(url)
    for chunk in (500, 1, 2):  # one OR-ed query, and chunked queries that overlap
        results, _ = retrieve(dm, tmp_path / f"c{chunk}", opts=EngineOptions(chunk_size=chunk, sleep=lambda s: None))
        notes = spooled(results)["shop.notes"]
        assert [r["id"] for r in notes].count(200) == 1
        assert ids(notes) == [200, 201, 202, 204], chunk
        assert results["shop.notes"].records == 4
        assert ids(spooled(results)["shop.order_items"]) == EXPECTED_IDS["shop.order_items"]


CHUNK_SCHEMA = """
CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT NOT NULL, secret TEXT);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL);
CREATE TABLE items (id INTEGER PRIMARY KEY, order_id INTEGER, customer_id INTEGER, sku TEXT);
"""


@pytest.fixture
def chunk_shop(tmp_path: Path) -> str:
    """Jane (1) has 10 orders with 2 items each; every item also names its customer."""
    orders = [(10 + i, 1) for i in range(10)] + [(50, 2), (51, 2)]
    items: list[tuple[int, int | None, int, str]] = [
        (1000 + 2 * i + k, oid, cid, f"sku{i}{k}") for i, (oid, cid) in enumerate(orders) for k in (0, 1)
    ]
    items += [(5000, None, 1, "no order"), (5001, 50, 1, "order of someone else, customer 1")]
    customers = [(1, JANE, "s3cr3t-1"), (2, "bob@example.com", "s3cr3t-2")]
    return sqlite_db(tmp_path / "c.sqlite", CHUNK_SCHEMA, {"customers": customers, "orders": orders, "items": items})


def count_streams(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """The SELECT statements each table is read with, counted as the database receives them."""
    calls: dict[str, int] = {}

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        m = re.match(r"\s*SELECT\b.*?\bFROM (\w+)", statement, re.IGNORECASE | re.DOTALL)
        if m:
            calls[m[1]] = calls.get(m[1], 0) + 1

    plain = connect

    def counting(name: str, url: str) -> Connector:
        src = plain(name, url)
        assert isinstance(src, SqlConnector)
        sa.event.listen(src.engine, "before_cursor_execute", seen)
        return src

    monkeypatch.setattr(sys.modules[__name__], "connect", counting)
    return calls


JANE_ITEMS = sorted([1000 + k for k in range(20)] + [5000, 5001])


def test_chunked_in_lists_give_every_child_row_once(
    chunk_shop: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dm = datamap(
        {"s": chunk_shop},
        {
            "s.customers": coll(identity="email"),
            "s.orders": coll(("customer_id", "s.customers.id")),
            "s.items": coll(("order_id", "s.orders.id")),
        },
    )
    calls = count_streams(monkeypatch)
    results, _ = retrieve(dm, tmp_path / "spool", opts=EngineOptions(chunk_size=3, sleep=lambda s: None))
    assert calls["items"] == 4  # 10 order keys in chunks of 3
    items = spooled(results)["s.items"]
    assert sorted(r["id"] for r in items) == list(range(1000, 1020))
    assert len(items) == 20 == results["s.items"].records


def test_chunked_overlapping_conditions_give_every_row_once(
    chunk_shop: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dm = datamap(
        {"s": chunk_shop},
        {
            "s.customers": coll(identity="email", exclude=["id", "secret"]),
            "s.orders": coll(("customer_id", "s.customers.id")),
            "s.items": coll(("order_id", "s.orders.id"), ("customer_id", "s.customers.id")),
        },
    )
    calls = count_streams(monkeypatch)
    results, _ = retrieve(dm, tmp_path / "spool", opts=EngineOptions(chunk_size=3, sleep=lambda s: None))
    assert calls["items"] == 5  # 4 chunks of order keys + 1 of customer keys: every Jane item twice over
    items = spooled(results)["s.items"]
    assert [r["id"] for r in items] == JANE_ITEMS  # once each
    assert results["s.items"].records == len(JANE_ITEMS)
    # excluded columns are never written, even the key the walk goes on with
    assert spooled(results)["s.customers"] == [{"email": JANE}]
    assert [c.name for c in results["s.customers"].columns] == ["email"]

    calls.clear()
    results, _ = retrieve(dm, tmp_path / "one-query")  # default chunk: one query with OR
    assert calls["items"] == 1
    assert [r["id"] for r in spooled(results)["s.items"]] == JANE_ITEMS


CYCLE_SCHEMA = """
CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT, invite_id INTEGER);
CREATE TABLE invites (id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL, code TEXT);
CREATE TABLE employees (id INTEGER PRIMARY KEY, email TEXT, manager_id INTEGER REFERENCES employees(id));
"""


@pytest.fixture
def cycle_db(tmp_path: Path) -> str:
    accounts = [(1, JANE, None), (2, None, 20), (3, None, 21), (4, "bob@example.com", None), (5, None, 22)]
    invites = [(20, 1, "a"), (21, 2, "b"), (22, 4, "c")]  # 1 invited 2, 2 invited 3; bob invited 5
    # Jane manages 2, who manages 3 (and 4), who manages 5; 6 and 7 are another team
    employees = [(1, JANE, None), (2, None, 1), (3, None, 2), (4, None, 2), (5, None, 3), (6, "x@y.z", None)]
    employees += [(7, None, 6), (8, None, 7), (9, "loop@example.com", 10), (10, None, 9)]  # 9 and 10: a loop
    return sqlite_db(
        tmp_path / "cycle.sqlite", CYCLE_SCHEMA, {"accounts": accounts, "invites": invites, "employees": employees}
    )


@pytest.mark.parametrize("chunk", [500, 1])
def test_a_cycle_is_read_to_a_fixpoint(cycle_db: str, tmp_path: Path, chunk: int) -> None:
    dm = datamap(
        {"app": cycle_db},
        {
            "app.accounts": coll(("invite_id", "app.invites.id"), identity="email"),
            "app.invites": coll(("account_id", "app.accounts.id")),
        },
    )
    assert build_plan(dm).units[0].cyclic
    results, _ = retrieve(dm, tmp_path / "spool", opts=EngineOptions(chunk_size=chunk, sleep=lambda s: None))
    rows = spooled(results)
    assert [r["id"] for r in rows["app.accounts"]] == [1, 2, 3]  # a chain of 5 rows: 1, 20, 2, 21, 3
    assert [r["id"] for r in rows["app.invites"]] == [20, 21]
    assert results["app.accounts"].records == 3 and results["app.invites"].records == 2


@pytest.mark.parametrize("chunk", [500, 1])
def test_a_self_reference_is_read_to_a_fixpoint(cycle_db: str, tmp_path: Path, chunk: int) -> None:
    staff = coll(("manager_id", "hr.staff.id"), identity="email", table="employees")  # named unlike its table
    dm = datamap({"hr": cycle_db}, {"hr.staff": staff})
    results, _ = retrieve(dm, tmp_path / "spool", opts=EngineOptions(chunk_size=chunk, sleep=lambda s: None))
    rows = spooled(results)["hr.staff"]
    assert [r["id"] for r in rows] == [1, 2, 3, 4, 5]
    assert results["hr.staff"].records == 5
    results, _ = retrieve(dm, tmp_path / "x", email="X@Y.Z")
    assert [r["id"] for r in spooled(results)["hr.staff"]] == [6, 7, 8]
    # a loop in the data ends, and 9 (found by e-mail, then again as 10's report) is written once
    results, _ = retrieve(dm, tmp_path / "loop", email="loop@example.com")
    assert [r["id"] for r in spooled(results)["hr.staff"]] == [9, 10]
    assert results["hr.staff"].records == 2


def test_spool_types_utc_datetimes_decimal_strings_base64_and_null(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.sqlite'}"
    build_shop(url)
    results, _ = retrieve(shop_datamap(url), tmp_path / "spool")
    first, second = spooled(results)["shop.customers"]
    assert first == JANE_ROW
    assert second == {
        "id": 5,
        "email": "JANE.DOE@EXAMPLE.COM",
        "name": None,
        "created_at": "2025-12-31T23:59:59Z",
        "last_seen": None,
        "birth_date": None,
        "balance": None,
        "avatar": None,
    }
    schemas = {c.name: c.schema for c in results["shop.customers"].columns}
    assert schemas["created_at"] == {"type": "string", "format": "date-time"}
    assert schemas["balance"]["type"] == ["string", "null"]
    assert schemas["avatar"] == {"type": ["string", "null"], "contentEncoding": "base64"}
    assert "password_hash" not in schemas


# --- failures ------------------------------------------------------------------------------------------


def test_an_unreachable_source_is_retried_then_named_in_a_source_error(
    tmp_path: Path, logs: list[dict[str, Any]]
) -> None:
    dm = datamap({"billing": f"sqlite:///{tmp_path}/missing-dir/billing.sqlite"}, {"billing.c": coll(identity="e")})
    sleeps: list[float] = []
    opts = EngineOptions(retries=3, backoff_seconds=0.5, sleep=sleeps.append)
    with pytest.raises(SourceError) as info:
        retrieve(dm, tmp_path / "spool", opts=opts)
    assert sleeps == [0.5, 1.0, 2.0]  # 4 attempts
    assert retry_events(logs) == [("billing", "billing.c", n) for n in (1, 2, 3, 4)]
    assert info.value.source == "billing" and info.value.code == "SOURCE_UNAVAILABLE"
    assert "'billing'" in str(info.value) and "4 attempts" in str(info.value)


def test_a_table_dropped_mid_run_fails_with_a_source_error_without_personal_data(
    tmp_path: Path, logs: list[dict[str, Any]]
) -> None:
    url = f"sqlite:///{tmp_path / 'shop.sqlite'}"
    build_shop(url)
    dm = shop_datamap(url)
    sources = Sources(dm, connect)  # shared by tasks, as in a worker: tables are reflected once
    try:
        retrieve(dm, tmp_path / "first", sources=sources)
        with closing(sqlite3.connect(tmp_path / "shop.sqlite")) as conn:
            conn.execute("DROP TABLE customers")
        sleeps: list[float] = []
        with pytest.raises(SourceError) as info:
            retrieve(dm, tmp_path / "second", sources=sources, opts=EngineOptions(retries=2, sleep=sleeps.append))
    finally:
        sources.dispose()
    assert len(sleeps) == 2
    assert info.value.source == "shop"
    assert "shop" in str(info.value)
    assert JANE not in str(info.value).lower() and "jane" not in str(info.value).lower()
    assert JANE in str(info.value.__cause__)  # the driver's error had it; the message must not
    assert retry_events(logs) == [("shop", "shop.customers", n) for n in (1, 2, 3)]
    assert "jane" not in repr(logs).lower()


def flaky_stream(
    monkeypatch: pytest.MonkeyPatch, table: str, fails: Callable[[int], bool], after_rows: int = 1
) -> dict[str, int]:
    """SqlConnector.read of `table`: on the statements where fails(n) (counted from 1), yield some rows, then
    fail as the adapter does when its connection breaks."""
    state = {"calls": 0}
    original = SqlConnector.read

    def read(self: SqlConnector, q: Read) -> Iterator[list[Row]]:
        if q.table != table:
            yield from original(self, q)
            return
        first = state["calls"] + 1
        state["calls"] += len(groups(q)[0])  # the read's statements (chunks of its keys)
        if not any(fails(n) for n in range(first, state["calls"] + 1)):
            yield from original(self, q)
            return
        for batch in original(self, q):
            yield batch[:after_rows]  # these rows reach the spool before the failure
            break
        cause = OperationalError("SELECT ...", {}, Exception("server closed the connection unexpectedly"))
        raise unavailable(self.name, cause) from cause

    monkeypatch.setattr(SqlConnector, "read", read)
    return state


def test_a_failing_read_is_retried_and_its_rows_are_not_duplicated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, logs: list[dict[str, Any]]
) -> None:
    url = f"sqlite:///{tmp_path / 'shop.sqlite'}"
    build_shop(url)
    state = flaky_stream(monkeypatch, "orders", lambda n: n <= 2, after_rows=2)
    sleeps: list[float] = []
    results, reports = retrieve(shop_datamap(url), tmp_path / "spool", opts=EngineOptions(sleep=sleeps.append))
    assert state["calls"] == 3
    assert sleeps == [0.5, 1.0]
    assert retry_events(logs) == [("shop", "shop.orders", 1), ("shop", "shop.orders", 2)]
    rows = spooled(results)
    assert [r["id"] for r in rows["shop.orders"]] == EXPECTED_IDS["shop.orders"]
    assert results["shop.orders"].records == 4
    assert ids(rows["shop.order_items"]) == EXPECTED_IDS["shop.order_items"]  # keys of the good attempt only
    assert reports[0].records == TOTAL


def test_a_failing_read_inside_a_cycle_is_retried_without_duplicates(
    cycle_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dm = datamap({"hr": cycle_db}, {"hr.employees": coll(("manager_id", "hr.employees.id"), identity="email")})
    # calls: 1 email -> [1]; 2 manager 1 -> [2]; 3 manager 2 -> [3, 4] fails after 3; 4 its retry;
    # 5 manager 3 -> [5]; 6 manager 4 -> []; 7 manager 5 -> []
    state = flaky_stream(monkeypatch, "employees", lambda n: n == 3)
    results, _ = retrieve(dm, tmp_path / "spool", opts=EngineOptions(chunk_size=1, sleep=lambda s: None))
    assert state["calls"] == 7
    assert [r["id"] for r in spooled(results)["hr.employees"]] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(("retries", "attempts"), [(0, 1), (3, 4)])
def test_a_source_that_keeps_failing_raises_after_all_attempts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, retries: int, attempts: int
) -> None:
    url = f"sqlite:///{tmp_path / 'shop.sqlite'}"
    build_shop(url)
    state = flaky_stream(monkeypatch, "customers", lambda n: True)
    with pytest.raises(SourceError) as info:
        retrieve(shop_datamap(url), tmp_path / "spool", opts=EngineOptions(retries=retries, sleep=lambda s: None))
    assert state["calls"] == attempts
    assert str(info.value) == f"The data source 'shop' could not be searched (OperationalError, {attempts} attempts)."


# --- memory --------------------------------------------------------------------------------------------

MANY = 200_000


def test_many_rows_are_streamed_not_held(tmp_path: Path) -> None:
    path = tmp_path / "big.sqlite"
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript(
            "CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT NOT NULL);"
            "CREATE TABLE events (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, ip TEXT, agent TEXT,"
            " at DATETIME);"
        )
        conn.executemany("INSERT INTO customers VALUES (?, ?)", [(1, JANE), (2, "bob@example.com")])
        agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
        conn.executemany(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?)",
            (
                (i, 1 if i <= MANY else 2, f"10.0.{i % 256}.{i % 200}", agent, "2024-01-02 03:04:05")
                for i in range(1, MANY + 1001)
            ),
        )
        conn.execute("CREATE INDEX ix_events_customer ON events (customer_id)")
        conn.commit()
    dm = datamap(
        {"s": f"sqlite:///{path}"},
        {"s.customers": coll(identity="email"), "s.events": coll(("customer_id", "s.customers.id"))},
    )
    tracemalloc.start()
    try:
        results, _ = retrieve(dm, tmp_path / "spool")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert results["s.events"].records == MANY
    spool = results["s.events"].spool
    assert spool is not None
    with spool.open("rb") as fh:
        first = orjson.loads(fh.readline())
        count = 1 + sum(1 for _ in fh)
    assert count == MANY
    assert first == {"id": 1, "customer_id": 1, "ip": "10.0.1.1", "agent": agent, "at": "2024-01-02T03:04:05Z"}
    assert spool.stat().st_size > 30 * 1024 * 1024  # more on disk than the memory limit below
    assert peak < 40 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


def test_a_statement_is_built_once_per_shape_and_bound_afresh_each_read(tmp_path: Path) -> None:
    """Reads of the same shape (columns, conditions) share one statement; each binds its own values, and
    a larger result still streams through the ordered statement."""
    db = tmp_path / "s.db"
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, owner INTEGER, v TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?, ?)", [(i, i % 3, f"v{i}") for i in range(30)])
        conn.commit()
    src = SqlConnector("s", f"sqlite:///{db}")
    try:

        def read(owners: list[int], batch: int = 2000) -> list[int]:
            q = Read("t", ["id"], ["id"], [Condition("owner", "in", owners)], batch=batch)
            return [r[0] for part in src.read(q) for r in part]

        assert read([1]) == [i for i in range(30) if i % 3 == 1]
        assert read([0, 2]) == [i for i in range(30) if i % 3 != 1]
        assert read([7]) == []
        assert read([0, 1], batch=4) == [i for i in range(30) if i % 3 != 2]  # past one batch: ordered, streamed
        assert len(src._statements) == 2  # one entry per (shape, batch), not per read
    finally:
        src.close()
