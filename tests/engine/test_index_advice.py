"""`dsar datamap check`'s index advice is right on every SQL engine: the statement it prints, run as printed,
makes the warning go away (mixed-case names, MySQL's parenthesised expressions, MariaDB's generated column)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from dsar.connectors.registry import connect
from dsar.connectors.sql import quote_every_identifier
from dsar.datamap.loader import parse
from dsar.engine.check import CheckReport, check
from dsar.engine.sources import Sources

META = sa.MetaData()
sa.Table(
    "Customers",
    META,
    sa.Column("Id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("EMail", sa.String(254), nullable=False),
    sa.Column("Phone", sa.String(40)),
)
sa.Table(
    "Orders",
    META,
    sa.Column("Id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("CustomerId", sa.Integer, nullable=False),
)

DATAMAP = """
version: 1
identities: {email: email, phone: phone}
sources:
  shop: {url: "%(url)s"}
collections:
  shop.customers:
    table: Customers
    primary_key: [Id]
    identities:
      email: {column: %(email)s, match: %(match)s}
      phone: {column: Phone, match: exact}
    exclude: %(exclude)s
    processing: {purpose: p, legal_basis: b, retention: r}
  shop.orders:
    table: Orders
    primary_key: [Id]
    references: [{column: CustomerId, to: shop.customers.Id}]
    processing: {purpose: p, legal_basis: b, retention: r}
"""


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
        "duckdb",
    ]
)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = {
        "sqlite": lambda: f"sqlite:///{tmp_path / 'shop.sqlite'}",
        "duckdb": lambda: f"duckdb:///{tmp_path / 'shop.duckdb'}",
        "postgresql": lambda: str(request.getfixturevalue("pg_url")),
        "mysql": lambda: str(request.getfixturevalue("mysql_url")),
    }[str(request.param)]()
    engine = sa.create_engine(url)
    quote_every_identifier(engine)
    META.create_all(engine)
    engine.dispose()
    yield url


def _check(url: str, email: str = "EMail", match: str = "lower_trim", exclude: str = "[]") -> CheckReport:
    dm = parse(DATAMAP % {"url": url, "email": email, "match": match, "exclude": exclude})
    sources = Sources(dm, connect)
    try:
        return check(dm, sources)
    finally:
        sources.dispose()


def _advice(rep: CheckReport) -> list[str]:
    return [w.split("Add: ", 1)[1] for w in rep.warnings if "has no usable index" in w]


def test_the_advice_run_as_printed_makes_every_lookup_an_index_search(url: str) -> None:
    rep = _check(url)
    assert rep.ok, rep.errors
    advice = _advice(rep)
    assert len(advice) == 3, rep.warnings  # lower(trim(EMail)), Phone, CustomerId
    engine = sa.create_engine(url)
    mariadb = engine.dialect.name == "mysql" and "then map the identity" in " ".join(advice)
    with engine.begin() as conn:
        for statement in advice:
            assert "EMail" in statement or "Phone" in statement or "CustomerId" in statement  # the case kept
            conn.exec_driver_sql(statement.split("; then", 1)[0].rstrip(";"))
    engine.dispose()
    # MariaDB has no expression indexes: there, the generated column is the lookup now
    generated = {"email": "EMail_normalized", "match": "exact", "exclude": "[EMail_normalized]"}
    rep = _check(url, **generated) if mariadb else _check(url)
    assert rep.ok, rep.errors
    assert _advice(rep) == [], rep.warnings


def test_the_advice_quotes_names_as_the_engine_does(url: str) -> None:
    advice = " ".join(_advice(_check(url)))
    dialect = sa.create_engine(url).dialect.name
    if dialect == "mysql":
        assert "`Customers`" in advice and "`EMail`" in advice
        assert "((lower(trim(`EMail`))))" in advice or "AS (lower(trim(`EMail`))) STORED" in advice
    else:
        assert '"Customers"' in advice and '(lower(trim("EMail")))' in advice
