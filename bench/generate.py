"""A deterministic demo shop at any scale, generated inside the database: `python -m bench.generate`.

Every value is a function of the row's id (an integer hash), computed by the database itself
(PostgreSQL `generate_series`, SQLite a recursive CTE), so 1,000,000 customers take minutes, not hours,
and customer `c` has the same rows at every scale: `jane.doe@example.com` is customer 1 everywhere (B5).

Per customer, on average: 1.4 addresses, 3.4 orders with 10.2 order items and 3.1 payments, 0.3 reviews,
4 login events, 2 marketing consents, 0.25 support tickets with 0.5 messages (about 26 rows).
Ids have gaps (a fixed number of id slots per customer, some left empty), as after deletions.
Indexes as a real shop has them: primary keys, every foreign key column, and the `lower(trim(email))`
expression indexes the data map's `match: lower_trim` needs. PostgreSQL tables have no foreign key
constraints and are UNLOGGED (load speed; reads are the same).

`heavy_rows=K` adds one more customer, `heavy.subject@example.com`, with K login events (B3).
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import yaml

from dsar.cli.progress import ProgressLine
from dsar.demo.generate import SHOP_INDEXES, SHOP_SCHEMA, SUPPORT_INDEXES, SUPPORT_SCHEMA, packaged_datamap

SUBJECT = "jane.doe@example.com"
HEAVY = "heavy.subject@example.com"
PG_SERVER = "postgres@127.0.0.1:5432"
VERSION = "3"
# id slots per parent row
ADDR, ORD, ITEM, LOGIN, CONSENT, MSG = 2, 5, 4, 8, 2, 3


def h(x: str, salt: int = 0) -> str:
    """A pseudo-random integer in [0, 1000003) from an integer SQL expression (same value in both databases).

    y = (x + salt) * 2654435761 mod 2**32 (Knuth), then its two 16-bit halves multiplied (mixes the low bits).
    """
    y = f"((({x}) + {salt}) * 2654435761 % 4294967296)"
    return f"CAST(({y} / 65536 * ({y} % 65536) * 7 + {y} / 65536 * 31337 + {y} % 65536) % 1000003 AS INTEGER)"


def wide(x: str, salt: int) -> str:
    """Like h, in [0, ~10**9): for timestamps spread over years."""
    return f"({h(x, salt)} * 1009 + {h(x, salt + 50)})"


class _Dialect:
    name: str

    def series(self, n: str) -> tuple[str, str]:  # (prefix, FROM item) giving column g.i = 1..n
        raise NotImplementedError

    def ts(self, seconds: str) -> str:
        raise NotImplementedError

    def date(self, days_before_2020: str) -> str:
        raise NotImplementedError


class _Sqlite(_Dialect):
    name = "sqlite"

    def series(self, n: str) -> tuple[str, str]:
        return f"WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {n})", "g"

    def ts(self, seconds: str) -> str:
        return f"datetime(1577836800 + ({seconds}), 'unixepoch')"

    def date(self, days: str) -> str:
        return f"date(1577836800 - ({days}) * 86400, 'unixepoch')"


class _Postgres(_Dialect):
    name = "postgresql"

    def series(self, n: str) -> tuple[str, str]:
        return "", f"generate_series(1, {n}) AS g(i)"

    def ts(self, seconds: str) -> str:
        return f"(TIMESTAMP '2020-01-01' + ({seconds}) * INTERVAL '1 second')"

    def date(self, days: str) -> str:
        return f"(DATE '2020-01-01' - ({days})::int)"


SPAN = 215_000_000  # ~6.8 years of seconds after 2020-01-01
FIRST = "AliceBobbyCarolDavidEllenFrankGraceHenryIreneJacob"
LAST = "SmithJonesBrownMillerDavisGarciaWilsonMooreTaylorWhite"  # 5-6 letters: taken 5 at a time
DOMAINS = "example.comexample.netexample.org"


def _email(c: str) -> str:
    return (
        f"CASE WHEN {c} = 1 THEN '{SUBJECT}' ELSE 'user' || ({c}) || '@' || "
        f"substr('{DOMAINS}', ({h(c, 3)} % 3) * 11 + 1, 11) END"
    )


def _order_exists(o: str) -> str:
    return f"((({o}) - 1) % {ORD} = 0 OR {h(o, 11)} % 10 < 6)"


def _ticket_exists(t: str) -> str:
    return f"(({t}) = 1 OR {h(t, 21)} % 4 = 0)"


def _inserts(d: _Dialect, n: int) -> dict[str, list[str]]:
    """INSERT ... SELECT statements per table (each a function of the id only)."""

    def ins(table: str, cols: str, count: int, select: str, where: str = "1 = 1") -> str:
        prefix, src = d.series(str(count))
        return f"{prefix} INSERT INTO {table} ({cols}) SELECT {select} FROM {src} WHERE {where}"

    i = "g.i"
    cust_of_order = f"(({i} - 1) / {ORD} + 1)"
    order_of_item = f"(({i} - 1) / {ITEM} + 1)"
    money = lambda x: f"round(({x}) / 100.0, 2)"  # noqa: E731
    shop = {
        "categories": [ins("categories", "id, name", 12, f"{i}, 'Category ' || {i}")],
        "products": [
            ins(
                "products",
                "id, category_id, name, price",
                240,
                f"{i}, ({i} - 1) / 20 + 1, 'Product ' || {i}, {money(f'400 + {h(i, 1)} % 30000')}",
            )
        ],
        "customers": [
            ins(
                "customers",
                "id, email, first_name, last_name, phone, birth_date, created_at, password_hash",
                n,
                f"{i}, {_email(i)}, substr('{FIRST}', ({h(i, 1)} % 10) * 5 + 1, 5), "
                f"substr('{LAST}', ({h(i, 2)} % 10) * 5 + 1, 5), '+1 555 ' || (1000000 + {h(i, 4)} % 9000000), "
                f"{d.date(f'6570 + {h(i, 5)} % 21900')}, {d.ts(f'{wide(i, 6)} % {SPAN // 2}')}, "
                f"'$argon2id$v=19$m=65536,t=3,p=4$' || {h(i, 7)} || '$' || {h(i, 8)} || {h(i, 9)}",
            )
        ],
        "addresses": [
            ins(
                "addresses",
                "id, customer_id, kind, street, city, postal_code, country",
                n * ADDR,
                f"{i}, ({i} - 1) / {ADDR} + 1, CASE WHEN ({i} - 1) % {ADDR} = 0 THEN 'shipping' ELSE 'billing' END, "
                f"({h(i, 1)} % 9000 + 1) || ' Main Street', 'City ' || ({h(i, 2)} % 600), "
                f"'' || (10000 + {h(i, 3)} % 89999), 'US'",
                f"(({i} - 1) % {ADDR} = 0 OR {h(i, 4)} % 10 < 4)",
            )
        ],
        "orders": [
            ins(
                "orders",
                "id, customer_id, status, placed_at, total_amount, currency, shipping_address_id",
                n * ORD,
                f"{i}, {cust_of_order}, trim(substr('deliveredpaid     shipped  cancelledreturned ', "
                f"({h(i, 1)} % 5) * 9 + 1, 9)), "
                f"{d.ts(f'{SPAN // 2} + {wide(i, 2)} % {SPAN // 2}')}, {money(f'500 + {h(i, 3)} % 50000')}, 'USD', "
                f"({cust_of_order} - 1) * {ADDR} + 1",
                _order_exists(i),
            )
        ],
        "order_items": [
            ins(
                "order_items",
                "id, order_id, product_id, quantity, unit_price",
                n * ORD * ITEM,
                f"{i}, {order_of_item}, {h(i, 1)} % 240 + 1, {h(i, 2)} % 3 + 1, {money(f'400 + {h(i, 3)} % 30000')}",
                f"{_order_exists(order_of_item)} AND (({i} - 1) % {ITEM} = 0 OR {h(i, 4)} % 3 < 2)",
            )
        ],
        "payments": [
            ins(
                "payments",
                "id, order_id, method, card_brand, card_last4, amount, paid_at",
                n * ORD,
                f"{i}, {i}, CASE WHEN {h(i, 1)} % 10 < 7 THEN 'card' ELSE 'paypal' END, "
                f"CASE WHEN {h(i, 1)} % 10 < 7 THEN 'visa' END, "
                f"CASE WHEN {h(i, 1)} % 10 < 7 THEN '' || (1000 + {h(i, 2)} % 9000) END, "
                f"{money(f'500 + {h(i, 3)} % 50000')}, {d.ts(f'{SPAN // 2} + {wide(i, 4)} % {SPAN // 2}')}",
                f"{_order_exists(i)} AND {h(i, 5)} % 10 < 9",
            )
        ],
        "product_reviews": [
            ins(
                "product_reviews",
                "id, customer_id, product_id, rating, title, body, created_at",
                n,
                f"{i}, {i}, {h(i, 1)} % 240 + 1, {h(i, 2)} % 5 + 1, 'Review ' || {i}, "
                f"'I bought this and it is ' || trim(substr('great  fine   awful  ', ({h(i, 3)} % 3) * 7 + 1, 7)) "
                f"|| '. Would recommend to anyone who needs one.', {d.ts(f'{SPAN // 2} + {wide(i, 4)} % {SPAN // 2}')}",
                f"({i} = 1 OR {h(i, 5)} % 10 < 3)",
            )
        ],
        "login_events": [
            ins(
                "login_events",
                "id, customer_id, ip_address, user_agent, occurred_at",
                n * LOGIN,
                f"{i}, ({i} - 1) / {LOGIN} + 1, '10.' || ({h(i, 1)} % 256) || '.' || ({h(i, 2)} % 256) || '.1', "
                f"'Mozilla/5.0 (X11; Linux x86_64) Firefox/' || ({h(i, 3)} % 40 + 100), "
                f"{d.ts(f'{SPAN // 2} + {wide(i, 4)} % {SPAN // 2}')}",
                f"(({i} - 1) % {LOGIN} = 0 OR {h(i, 5)} % 7 < 3)",
            )
        ],
        "marketing_consents": [
            ins(
                "marketing_consents",
                "id, customer_id, channel, granted, changed_at, source",
                n * CONSENT,
                f"{i}, ({i} - 1) / {CONSENT} + 1, CASE WHEN {i} % 2 = 1 THEN 'email' ELSE 'sms' END, "
                f"({h(i, 1)} % 100 < 45), {d.ts(f'{wide(i, 2)} % {SPAN}')}, 'checkout'",
            )
        ],
    }
    ticket_of = f"(({i} - 1) / {MSG} + 1)"
    support = {
        "tickets": [
            ins(
                "tickets",
                "id, requester_email, subject, status, created_at",
                n,
                f"{i}, CASE WHEN {h(i, 1)} % 20 = 0 THEN upper({_email(i)}) ELSE {_email(i)} END, "
                f"'Where is my order ' || {i} || '?', 'closed', {d.ts(f'{SPAN // 2} + {wide(i, 2)} % {SPAN // 2}')}",
                _ticket_exists(i),
            )
        ],
        "messages": [
            ins(
                "messages",
                "id, ticket_id, author, body, sent_at",
                n * MSG,
                f"{i}, {ticket_of}, CASE WHEN ({i} - 1) % 2 = 0 THEN 'customer' ELSE 'agent' END, "
                f"'Hello, about ticket ' || {ticket_of} || ': thanks for your patience, we are on it.', "
                f"{d.ts(f'{SPAN // 2} + {wide(i, 1)} % {SPAN // 2}')}",
                f"{_ticket_exists(ticket_of)} AND (({i} - 1) % {MSG} = 0 OR {h(i, 2)} % 2 = 0)",
            )
        ],
    }
    return {"shop": [s for v in shop.values() for s in v], "support": [s for v in support.values() for s in v]}


def _heavy(d: _Dialect, n: int, k: int) -> list[str]:
    """Customer n+1 with k login events (ids after every regular slot)."""
    c = n + 1
    prefix, src = d.series(str(k))
    return [
        f"INSERT INTO customers (id, email, first_name, last_name, phone, birth_date, created_at, password_hash) "
        f"VALUES ({c}, '{HEAVY}', 'Heavy', 'Subject', NULL, NULL, {d.ts('0')}, 'x')",
        f"{prefix} INSERT INTO login_events (id, customer_id, ip_address, user_agent, occurred_at) "
        f"SELECT {n * LOGIN} + g.i, {c}, '10.0.' || (g.i % 256) || '.1', "
        f"'Mozilla/5.0 (X11; Linux x86_64) Firefox/' || (g.i % 40 + 100), {d.ts('g.i * 60')} FROM {src}",
    ]


def _pg_schema(schema: str) -> str:
    text = re.sub(r"\s*REFERENCES \w+\(\w+\)", "", schema).replace("DATETIME", "TIMESTAMP")
    return text.replace("CREATE TABLE", "CREATE UNLOGGED TABLE")


@dataclass(frozen=True)
class Generated:
    scale: int
    heavy_rows: int
    urls: dict[str, str]  # source name -> SQLAlchemy URL
    rows: int
    seconds: float
    reused: bool

    def write_datamap(self, path: Path) -> Path:
        """The demo data map with its sources pointed at the generated databases."""
        raw = yaml.safe_load(packaged_datamap())
        for name, source in raw["sources"].items():
            source["url"] = self.urls[name]
        path.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True, width=110), encoding="utf-8")
        return path


def _marker(scale: int, heavy: int) -> str:
    return f"v{VERSION} scale={scale} heavy={heavy}"


Progress = Callable[[str, int, int], None]  # (step, done, total): dsar.cli.progress.ProgressLine


def _quiet(_step: str, _done: int, _total: int) -> None:
    return None


def generate_sqlite(directory: Path, scale: int, heavy_rows: int = 0, progress: Progress = _quiet) -> Generated:
    """shop.sqlite and support.sqlite in `directory` (reused when already generated with these settings)."""
    directory.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    d = _Sqlite()
    stmts = _inserts(d, scale)
    urls, rows, reused = {}, 0, True
    for name, schema, indexes in (("shop", SHOP_SCHEMA, SHOP_INDEXES), ("support", SUPPORT_SCHEMA, SUPPORT_INDEXES)):
        path = directory / f"{name}.sqlite"
        urls[name] = f"sqlite:///{path}"
        if _sqlite_done(path) == _marker(scale, heavy_rows):
            rows += _count(sqlite3.connect(path))
            continue
        reused = False
        path.unlink(missing_ok=True)
        con = sqlite3.connect(path, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode = OFF")
            con.execute("PRAGMA synchronous = OFF")
            con.execute("PRAGMA cache_size = -200000")
            con.executescript(schema)
            con.execute("BEGIN")
            todo = stmts[name] + (_heavy(d, scale, heavy_rows) if heavy_rows and name == "shop" else [])
            for i, stmt in enumerate(todo):
                progress(f"{name} tables", i, len(todo))
                con.execute(stmt)
            progress(f"{name} tables", len(todo), len(todo))
            con.execute("COMMIT")
            con.executescript(indexes)
            con.execute("ANALYZE")
            con.execute("CREATE TABLE bench_meta (v TEXT)")
            con.execute("INSERT INTO bench_meta VALUES (?)", (_marker(scale, heavy_rows),))
            rows += _count(con)
        finally:
            con.close()
    return Generated(scale, heavy_rows, urls, rows, time.perf_counter() - t0, reused)


def _sqlite_done(path: Path) -> str | None:
    if not path.is_file():
        return None
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return str(con.execute("SELECT v FROM bench_meta").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return None


def _count(con: sqlite3.Connection) -> int:
    tables = [
        r[0]
        for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' AND name != 'bench_meta'"
        )
    ]
    return sum(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables)


def generate_postgres(
    scale: int, heavy_rows: int = 0, server: str = PG_SERVER, prefix: str = "dsar_bench", progress: Progress = _quiet
) -> Generated:
    """Databases `<prefix>_<scale>[_h<K>]_shop` and `..._support` (reused when complete with these settings)."""
    t0 = time.perf_counter()
    d = _Postgres()
    stmts = _inserts(d, scale)
    base = f"{prefix}_{scale}" + (f"_h{heavy_rows}" if heavy_rows else "")
    urls = {name: f"postgresql+psycopg://{server}/{base}_{name}" for name in ("shop", "support")}
    rows, reused = 0, True
    with psycopg.connect(f"postgresql://{server}/postgres", autocommit=True) as admin:
        for name, schema, indexes in (
            ("shop", SHOP_SCHEMA, SHOP_INDEXES),
            ("support", SUPPORT_SCHEMA, SUPPORT_INDEXES),
        ):
            db = f"{base}_{name}"
            conninfo = f"postgresql://{server}/{db}"
            if _pg_done(admin, conninfo, db) == _marker(scale, heavy_rows):
                rows += _pg_count(conninfo)
                continue
            reused = False
            admin.execute(f"DROP DATABASE IF EXISTS {db}")
            admin.execute(f"CREATE DATABASE {db}")
            with psycopg.connect(conninfo, autocommit=True) as c:
                c.execute(_pg_schema(schema))
            todo = stmts[name] + (_heavy(d, scale, heavy_rows) if heavy_rows and name == "shop" else [])
            # Two connections: the machine's two cores (the big tables first).
            todo.sort(key=lambda s: "order_items" not in s and "login_events" not in s)
            _parallel(conninfo, todo, progress, f"{name} tables")
            _parallel(conninfo, [s.strip() for s in indexes.split(";") if s.strip()], progress, f"{name} indexes")
            with psycopg.connect(conninfo, autocommit=True) as c:
                c.execute("VACUUM ANALYZE")
                c.execute("CREATE TABLE bench_meta (v TEXT)")
                c.execute(f"INSERT INTO bench_meta VALUES ('{_marker(scale, heavy_rows)}')")
            rows += _pg_count(conninfo)
    return Generated(scale, heavy_rows, urls, rows, time.perf_counter() - t0, reused)


def _parallel(conninfo: str, stmts: list[str], progress: Progress = _quiet, label: str = "") -> None:
    def run(stmt: str) -> None:
        with psycopg.connect(conninfo, autocommit=True) as c:
            c.execute("SET maintenance_work_mem = '512MB'")
            c.execute(stmt.encode())

    with ThreadPoolExecutor(2) as pool:
        for n, _ in enumerate(pool.map(run, stmts), 1):
            progress(label, n, len(stmts))


def _pg_done(admin: psycopg.Connection[Any], conninfo: str, db: str) -> str | None:
    if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone():
        return None
    try:
        with psycopg.connect(conninfo, autocommit=True) as c:
            row = c.execute("SELECT v FROM bench_meta").fetchone()
            return str(row[0]) if row else None
    except psycopg.Error:
        return None


def _pg_count(conninfo: str) -> int:
    with psycopg.connect(conninfo, autocommit=True) as c:
        row = c.execute(
            "SELECT coalesce(sum(n_live_tup), 0) FROM pg_stat_user_tables WHERE relname != 'bench_meta'"
        ).fetchone()
        return int(row[0]) if row else 0


def generate_wide(directory: Path, collections: int = 300, rows: int = 3) -> Path:
    """B4: one SQLite source with `collections` tables: `root` (the e-mail identity), then half of the
    rest in a chain (each table references the previous one) and half fanning out from `root`.
    Each table has one row of the subject (row 1, pointing at row 1 of its parent) and `rows` of others.
    Returns the data map's path."""
    directory.mkdir(parents=True, exist_ok=True)
    db = directory / "wide.sqlite"
    db.unlink(missing_ok=True)
    chain = (collections - 1) // 2
    fan = collections - 1 - chain
    con = sqlite3.connect(db, isolation_level=None)
    facts = {"purpose": "Benchmark", "legal_basis": "Art. 6(1)(b) GDPR", "retention": "1 year"}
    coll: dict[str, object] = {
        "wide.root": {
            "processing": facts,
            "primary_key": ["id"],
            "identities": {"email": {"column": "email", "match": "lower_trim"}},
        }
    }
    try:
        con.execute("BEGIN")
        con.execute("CREATE TABLE root (id INTEGER PRIMARY KEY, email VARCHAR(254) NOT NULL, name TEXT)")
        con.execute("CREATE INDEX ix_root_email ON root (lower(trim(email)))")
        con.executemany(
            "INSERT INTO root VALUES (?, ?, ?)",
            [(i, SUBJECT if i == 1 else f"user{i}@example.com", f"Name {i}") for i in range(1, rows + 2)],
        )
        tables = [(f"chain{k:03d}", "root" if k == 1 else f"chain{k - 1:03d}") for k in range(1, chain + 1)]
        tables += [(f"fan{k:03d}", "root") for k in range(1, fan + 1)]
        for name, parent in tables:
            con.execute(
                f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL, note TEXT, at DATETIME)"
            )
            con.execute(f"CREATE INDEX ix_{name}_parent ON {name} (parent_id)")
            # row i points at parent i: the subject's row 1 leads to row 1 of the next table
            con.executemany(
                f"INSERT INTO {name} VALUES (?, ?, ?, ?)",
                [(i, i, f"{name} note {i}", "2026-01-02 03:04:05") for i in range(1, rows + 2)],
            )
            coll[f"wide.{name}"] = {
                "processing": facts,
                "primary_key": ["id"],
                "references": [{"column": "parent_id", "to": f"wide.{parent}.id"}],
            }
        con.execute("COMMIT")
    finally:
        con.close()
    doc = {
        "version": 1,
        "identities": {"email": "email"},
        "sources": {"wide": {"url": f"sqlite:///{db}"}},
        "collections": coll,
    }
    path = directory / "wide.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=int, default=10_000, help="customers")
    ap.add_argument("--heavy-rows", type=int, default=0, help="login events of heavy.subject@example.com")
    ap.add_argument("--sqlite", type=Path, help="directory for shop.sqlite and support.sqlite")
    ap.add_argument("--postgres", action="store_true", help="PostgreSQL databases dsar_bench_<scale>_*")
    args = ap.parse_args()
    progress = ProgressLine("generating")  # on stderr, only when it is a terminal
    if args.sqlite:
        g = generate_sqlite(args.sqlite, args.scale, args.heavy_rows, progress)
        progress.close()
        print(f"SQLite: {g.rows:,} rows in {g.seconds:.1f} s{' (reused)' if g.reused else ''}: {g.urls}")
    if args.postgres:
        g = generate_postgres(args.scale, args.heavy_rows, progress=progress)
        progress.close()
        print(f"PostgreSQL: {g.rows:,} rows in {g.seconds:.1f} s{' (reused)' if g.reused else ''}: {g.urls}")


if __name__ == "__main__":
    main()
