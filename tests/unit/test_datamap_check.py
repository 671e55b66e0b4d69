"""`dsar datamap check`: tables, columns and indexes against the real sources, the plan and its SQL."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from dsar.cli.app import app
from dsar.connectors.registry import connect
from dsar.datamap.loader import load
from dsar.engine.check import CheckReport, check
from dsar.engine.execute import Sources

MAP = """\
sources:
  shop:
    url: "sqlite:///${{DATAMAP_DIR}}/shop.sqlite"
collections:
  shop.customers:
    primary_key: [id]
    identities:
      email: {{column: email, match: {match}}}
    exclude: [password_hash]
    processing: {{purpose: p, legal_basis: b, retention: r}}
  shop.orders:
    primary_key: [id]
    references:
      - {{column: customer_id, to: shop.customers.{parent_column}}}
    fields:
      total: {{categories: [user.financial]}}
    processing: {{purpose: p, legal_basis: b, retention: r}}
"""
TABLES = """
CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT NOT NULL, password_hash TEXT);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, total NUMERIC(10, 2));
"""
GOOD_INDEXES = """
CREATE UNIQUE INDEX ix_customers_email ON customers (lower(trim(email)));
CREATE INDEX ix_orders_customer_id ON orders (customer_id);
"""


def write(tmp_path: Path, sql: str, match: str = "lower_trim", parent_column: str = "id") -> Path:
    with closing(sqlite3.connect(tmp_path / "shop.sqlite")) as conn:
        conn.executescript(sql)
    path = tmp_path / "datamap.yaml"
    path.write_text(MAP.format(match=match, parent_column=parent_column), encoding="utf-8")
    return path


def run_check(path: Path) -> CheckReport:
    dm = load(path, env={})
    sources = Sources(dm, connect)
    try:
        return check(dm, sources)
    finally:
        sources.dispose()


def cli(path: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["datamap", "check", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.stdout, result.stderr


def test_the_demo_has_no_errors_and_no_index_warnings(demo_dir: Path) -> None:
    rep = run_check(demo_dir / "datamap.yaml")
    assert rep.errors == []
    assert rep.warnings == []
    assert rep.ok
    assert "source shop: connected (sqlite)" in rep.lines
    assert "source support: connected (sqlite)" in rep.lines
    assert "shop.customers: reachable; 8 columns, 1 excluded" in rep.lines
    code, out, err = cli(demo_dir / "datamap.yaml")
    assert code == 0, out + err
    assert out.rstrip().endswith("0 error(s), 0 warning(s)")
    assert "  3. shop.customers (after: none): WHERE lower(trim(email)) = <email>" in out.splitlines()
    assert "WHERE customer_id IN <shop.customers.id>" in out
    select = next(line.strip() for line in out.splitlines() if line.strip().startswith("SELECT customers."))
    assert select == (
        "SELECT customers.id, customers.email, customers.first_name, customers.last_name, customers.phone, "
        "customers.birth_date, customers.created_at FROM customers WHERE lower(trim(customers.email)) = ? "
        "ORDER BY customers.id"
    )
    assert "password_hash" not in select
    assert "messages.ticket_id IN (?, ?)" in out  # bound parameters, rendered readably
    assert err == ""


def test_a_well_indexed_map_passes(tmp_path: Path) -> None:
    rep = run_check(write(tmp_path, TABLES + GOOD_INDEXES))
    assert (rep.errors, rep.warnings) == ([], [])
    assert "shop.orders: reachable; 3 columns, 0 excluded" in rep.lines
    assert "plan:" in rep.lines
    assert "  2. shop.orders (after: 1): WHERE customer_id IN <shop.customers.id>" in rep.lines


def test_a_reference_column_without_an_index_warns_with_the_create_index_hint(tmp_path: Path) -> None:
    path = write(tmp_path, TABLES + "CREATE INDEX ix_email ON customers (lower(trim(email)));")
    rep = run_check(path)
    assert rep.errors == []
    assert rep.warnings == [
        "shop.orders: lookup column 'customer_id' has no usable index; every request scans the table. "
        'Add: CREATE INDEX "ix_orders_customer_id" ON "orders" ("customer_id");'
    ]
    code, out, _ = cli(path)
    assert code == 0  # warnings do not fail the check
    assert "warning: shop.orders: lookup column 'customer_id' has no usable index" in out
    assert out.rstrip().endswith("0 error(s), 1 warning(s)")


@pytest.mark.parametrize(("columns", "warned"), [("total, customer_id", ["shop.orders"]), ("customer_id, total", [])])
def test_only_an_index_that_starts_with_the_column_counts(tmp_path: Path, columns: str, warned: list[str]) -> None:
    extra = f"CREATE INDEX ix_e ON customers (lower(trim(email)));CREATE INDEX ix_o ON orders ({columns});"
    rep = run_check(write(tmp_path, TABLES + extra))
    assert [w.split(":")[0] for w in rep.warnings] == warned


def test_an_identity_needs_an_index_on_the_expression_it_compares(tmp_path: Path) -> None:
    path = write(tmp_path, TABLES + "CREATE INDEX ix_plain ON customers (email);" + GOOD_INDEXES.split(";")[1] + ";")
    rep = run_check(path)
    assert rep.warnings == [
        "shop.customers: lookup column 'email' has no usable index; every request scans the table. "
        'Add: CREATE INDEX "ix_customers_email" ON "customers" (lower(trim("email")));'
    ]


def test_an_exact_identity_is_served_by_a_unique_constraint(tmp_path: Path) -> None:
    tables = TABLES.replace("email TEXT NOT NULL", "email TEXT NOT NULL UNIQUE")
    rep = run_check(write(tmp_path, tables + "CREATE INDEX ix_o ON orders (customer_id);", match="exact"))
    assert (rep.errors, rep.warnings) == ([], [])


def test_a_missing_table_is_an_error_and_exit_1(tmp_path: Path) -> None:
    path = write(tmp_path, TABLES.split(";")[0] + ";" + GOOD_INDEXES.split(";")[0] + ";")
    rep = run_check(path)
    assert rep.errors == ["shop.orders: table 'orders' does not exist in source 'shop'"]
    code, out, err = cli(path)
    assert code == 1
    assert "error: shop.orders: table 'orders' does not exist in source 'shop'" in err
    assert out.rstrip().endswith("1 error(s), 0 warning(s)")
    assert "plan:" in out and "SELECT customers.id" in out


def test_a_missing_column_is_an_error_and_exit_1(tmp_path: Path) -> None:
    path = write(tmp_path, TABLES.replace(", total NUMERIC(10, 2)", "") + GOOD_INDEXES)
    assert run_check(path).errors == ["shop.orders: column(s) total not in table 'orders'"]
    code, _, err = cli(path)
    assert code == 1
    assert "column(s) total not in table 'orders'" in err


def test_a_reference_to_a_missing_parent_column_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, TABLES + GOOD_INDEXES, parent_column="customer_no")
    assert run_check(path).errors == ["shop.customers: column(s) customer_no not in table 'customers'"]
    assert cli(path)[0] == 1


def test_a_source_that_cannot_be_opened_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "datamap.yaml"
    path.write_text(MAP.format(match="exact", parent_column="id").replace("${DATAMAP_DIR}", f"{tmp_path}/nope"))
    rep = run_check(path)
    where = f"{tmp_path}/nope/shop.sqlite"
    assert rep.errors == [f"source shop: cannot connect to {where}: unable to open database file; check its url"]
    assert cli(path)[0] == 1


def test_an_invalid_data_map_exits_1_with_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, TABLES).with_name("bad.yaml")
    path.write_text(MAP.format(match="lowercase", parent_column="id"), encoding="utf-8")
    code, out, err = cli(path)
    assert code == 1
    assert err.startswith(f"{path}:8: collections.shop.customers.identities.email.match: use one of")
    assert out == ""


def test_unreachable_collections_are_warned_about(tmp_path: Path) -> None:
    path = write(tmp_path, TABLES + GOOD_INDEXES + "CREATE TABLE products (id INTEGER PRIMARY KEY);")
    text = (
        path.read_text()
        + "  shop.products:\n    primary_key: [id]\n    processing: {purpose: p, legal_basis: b, retention: r}\n"
    )
    path.write_text(text, encoding="utf-8")
    rep = run_check(path)
    assert rep.errors == []
    assert rep.warnings == ["shop.products: not reachable from any identity; add an identity or a reference to it"]
    assert "shop.products: NOT reachable from any identity; 1 columns, 0 excluded" in rep.lines


def _server_tables(url: str, with_indexes: bool) -> None:
    meta = sa.MetaData()
    customers = sa.Table(
        "customers",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("password_hash", sa.String(100)),
    )
    orders = sa.Table(
        "orders",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.Integer, nullable=False),
        sa.Column("total", sa.Numeric(10, 2)),
    )
    if with_indexes:
        sa.Index("ix_orders_customer_id", orders.c.customer_id)
        sa.Index("ix_customers_email_norm", sa.func.lower(sa.func.trim(customers.c.email)))
    engine = sa.create_engine(url)
    meta.create_all(engine)
    engine.dispose()


def _server_map(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "datamap.yaml"
    text = MAP.format(match="lower_trim", parent_column="id").replace("sqlite:///${DATAMAP_DIR}/shop.sqlite", url)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.postgres
@pytest.mark.parametrize("with_indexes", [True, False])
def test_postgres_indexes_including_the_expression_index(pg_url: str, tmp_path: Path, with_indexes: bool) -> None:
    _server_tables(pg_url, with_indexes)
    rep = run_check(_server_map(tmp_path, pg_url))
    assert rep.errors == []
    assert "source shop: connected (postgresql)" in rep.lines
    if with_indexes:
        assert rep.warnings == []
    else:
        assert [w.rsplit("Add: ", 1)[1] for w in rep.warnings] == [
            'CREATE INDEX "ix_customers_email" ON "customers" (lower(trim("email")));',
            'CREATE INDEX "ix_orders_customer_id" ON "orders" ("customer_id");',
        ]
    assert any("WHERE lower(trim(customers.email)) = %(lower_1)s" in line for line in rep.lines)


@pytest.mark.mysql
def test_mariadb_reference_index(mysql_url: str, tmp_path: Path) -> None:
    meta_url = mysql_url
    engine = sa.create_engine(meta_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE customers (id INT PRIMARY KEY, email VARCHAR(254), password_hash TEXT)"))
        conn.execute(sa.text("CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT, total DECIMAL(10, 2))"))
        conn.execute(sa.text("CREATE INDEX ix_orders_customer_id ON orders (customer_id)"))
    engine.dispose()
    path = _server_map(tmp_path, meta_url)
    path.write_text(path.read_text().replace("match: lower_trim", "match: exact"), encoding="utf-8")
    rep = run_check(path)
    assert rep.errors == []
    # MariaDB has no expression indexes: the exact match needs a plain index on email
    assert rep.warnings == [
        "shop.customers: lookup column 'email' has no usable index; every request scans the table. "
        "Add: CREATE INDEX `ix_customers_email` ON `customers` (`email`);"
    ]


SCOPES = """
portability:
  scopes:
    portability-physical-orders:
      collections:
        shop.orders: {timestamp: placed_at, where: {status: [shipped]}}
    portability-bad-columns:
      collections:
        shop.orders: {timestamp: shipped_on, where: {state: [x]}}
    portability-text-time:
      collections:
        shop.customers: {timestamp: email}
"""


def test_portability_scope_columns_are_checked_against_the_tables(tmp_path: Path) -> None:
    tables = TABLES.replace("total NUMERIC(10, 2)", "total NUMERIC(10, 2), status TEXT, placed_at TIMESTAMP")
    path = write(tmp_path, tables + GOOD_INDEXES)
    path.write_text(path.read_text(encoding="utf-8") + SCOPES, encoding="utf-8")
    rep = run_check(path)
    assert rep.errors == [
        "portability.scopes.portability-bad-columns.collections.shop.orders.where: "
        "column 'state' not in table 'orders'",
        "portability.scopes.portability-bad-columns.collections.shop.orders.timestamp: "
        "column 'shipped_on' not in table 'orders'",
    ]
    [warning] = rep.warnings
    assert warning.startswith(
        "portability.scopes.portability-text-time.collections.shop.customers.timestamp: column 'email' is TEXT"
    )
    code, out, _ = cli(path)
    assert code == 1 and "2 error(s), 1 warning(s)" in out
