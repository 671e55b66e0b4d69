"""Identities beyond one e-mail column, on SQLite, PostgreSQL, MariaDB and DuckDB: several columns of one kind,
internationalised e-mails, phones and customer ids, and identities found in one source looked up in another."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from dsar.connectors.registry import connect
from dsar.connectors.sql import quote_every_identifier
from dsar.datamap.identities import InvalidIdentity, lookup_values, parse_identity
from dsar.datamap.loader import parse
from dsar.datamap.model import DataMap
from dsar.engine.execute import EngineOptions, Sources, run_retrieval
from dsar.engine.plan import build_plan

META = sa.MetaData()
sa.Table(
    "customers",
    META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("email", sa.String(254), nullable=False),
    sa.Column("alt_email", sa.String(254)),
    sa.Column("phone", sa.String(40)),
    sa.Column("stripeCustomerId", sa.String(40)),  # mixed case on purpose
)
sa.Table(
    "billing_customers",
    META,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("plan", sa.String(20)),
)
sa.Table(
    "contacts",
    META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("phone_e164", sa.String(20)),
    sa.Column("note", sa.String(40)),
)
ROWS: dict[str, list[dict[str, Any]]] = {
    "customers": [
        dict(zip(("id", "email", "alt_email", "phone", "stripeCustomerId"), row, strict=True))
        for row in (
            (1, "jane@example.com", None, "+49 30 901820", "cus_A"),
            (2, "other@example.com", " JANE@example.COM ", None, " cus_B"),
            (3, "bob@example.com", "bob2@example.com", "(415) 555", "cus_C"),
            (4, "jürgen@xn--bcher-kva.de", None, None, None),
            (5, "jane@example.co", "jane@example.com.evil", None, None),
        )
    ],
    "billing_customers": [
        {"id": "cus_A", "plan": "gold"},
        {"id": "cus_B", "plan": "basic"},
        {"id": "cus_C", "plan": "basic"},
        {"id": "cus_A2", "plan": "look-alike"},
    ],
    "contacts": [
        {"id": 10, "phone_e164": "+4930901820", "note": "jane's"},
        {"id": 11, "phone_e164": "+14155552671", "note": "someone else"},
        {"id": 12, "phone_e164": None, "note": "no phone"},
    ],
}

DATAMAP = """
version: 1
identities: {email: email, phone: phone, stripe: customer_id}
sources:
  shop: {url: "%(url)s"}
  billing: {url: "%(url)s"}
  crm: {url: "%(url)s"}
collections:
  shop.customers:
    primary_key: [id]
    identities:
      email: [{column: email}, {column: alt_email}]
    processing: {purpose: p, legal_basis: b, retention: r}
  billing.customers:
    table: billing_customers
    primary_key: [id]
    identities: {stripe: {column: id, match: exact}}
    references: [{column: id, to: shop.customers.stripeCustomerId, identity: stripe}]
    processing: {purpose: p, legal_basis: b, retention: r}
  crm.contacts:
    primary_key: [id]
    identities: {phone: {column: phone_e164, match: exact}}
    references: [{column: phone_e164, to: shop.customers.phone, identity: phone}]
    processing: {purpose: p, legal_basis: b, retention: r}
"""


def _load(url: str) -> None:
    engine = sa.create_engine(url)
    quote_every_identifier(engine)
    META.create_all(engine)
    with engine.begin() as conn:
        for name, rows in ROWS.items():
            conn.execute(META.tables[name].insert(), rows)
    engine.dispose()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
        "duckdb",
    ]
)
def dm(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DataMap]:
    url = {
        "sqlite": lambda: f"sqlite:///{tmp_path / 'shop.sqlite'}",
        "duckdb": lambda: f"duckdb:///{tmp_path / 'shop.duckdb'}",
        "postgresql": lambda: str(request.getfixturevalue("pg_url")),
        "mysql": lambda: str(request.getfixturevalue("mysql_url")),
    }[str(request.param)]()
    _load(url)
    yield parse(DATAMAP % {"url": url})


def found(dm: DataMap, tmp_path: Path, identities: Mapping[str, str]) -> dict[str, list[Any]]:
    sources = Sources(dm, connect)
    try:
        results, _ = run_retrieval(
            dm, build_plan(dm), sources, identities, tmp_path / "spool", EngineOptions(sleep=lambda s: None)
        )
    finally:
        sources.dispose()
    out: dict[str, list[Any]] = {}
    for res in results:
        lines = res.spool.read_bytes().splitlines() if res.spool and res.spool.exists() else []
        out[res.key] = sorted(orjson.loads(line)["id"] for line in lines)
    return out


def test_every_column_of_an_identity_is_matched_and_found_ids_lead_to_other_sources(
    dm: DataMap, tmp_path: Path
) -> None:
    (tmp_path / "spool").mkdir()
    got = found(dm, tmp_path, {"email": "  Jane@Example.com"})
    assert got["shop.customers"] == [1, 2]  # email of 1, alt_email of 2; never 5's look-alikes
    assert got["billing.customers"] == ["cus_A", "cus_B"]  # " cus_B" trimmed; never cus_A2
    assert got["crm.contacts"] == [10]  # "+49 30 901820" in the shop is +4930901820 in the CRM


def test_a_phone_or_a_customer_id_alone_finds_the_subject(dm: DataMap, tmp_path: Path) -> None:
    (tmp_path / "spool").mkdir()
    got = found(dm, tmp_path, {"phone": "+1 415-555-2671"})
    assert got == {"shop.customers": [], "billing.customers": [], "crm.contacts": [11]}
    got = found(dm, tmp_path, {"stripe": " cus_C "})
    assert got == {"shop.customers": [], "billing.customers": ["cus_C"], "crm.contacts": []}


def test_an_internationalised_address_matches_its_unicode_and_ascii_domain(dm: DataMap, tmp_path: Path) -> None:
    (tmp_path / "spool").mkdir()
    assert found(dm, tmp_path, {"email": "jürgen@bücher.de"})["shop.customers"] == [4]


def test_the_plan_says_where_an_identity_comes_from(dm: DataMap) -> None:
    lines = list(build_plan(dm).describe())
    assert any("lower(trim(alt_email)) = <email>" in line for line in lines)
    assert any("phone_e164 IN <phone of shop.customers.phone>" in line for line in lines)


# --- the data map and the ways in ------------------------------------------------------------------------


def test_the_loader_names_an_unknown_identity_on_a_reference_and_a_column_listed_twice() -> None:
    text = DATAMAP % {"url": "sqlite://"}
    bad = text.replace("identity: phone}]", "identity: fax}]").replace(
        "[{column: email}, {column: alt_email}]", "[{column: email}, {column: email}]"
    )
    with pytest.raises(Exception) as info:
        parse(bad, "dm.yaml")
    msg = str(info.value)
    assert "references[0].identity: unknown identity 'fax'" in msg
    assert "column 'email' is listed twice" in msg
    with pytest.raises(Exception) as info:
        parse(text.replace("identity: stripe}", "match: lower_trim}"), "dm.yaml")
    assert "references[0].match: `lower_trim` compares normalised identities; add `identity`" in str(info.value)
    with pytest.raises(Exception) as info:
        parse(text.replace("stripe: customer_id", "stripe: passport"), "dm.yaml")
    assert "identities.stripe" in str(info.value) and "customer_id" in str(info.value)


@pytest.mark.parametrize(
    ("kind", "typed", "normal"),
    [
        ("email", " Jane.Doe@Example.COM ", "jane.doe@example.com"),
        ("email", "用户@例子.广告", "用户@例子.广告"),
        ("email", "JÜRGEN@Bücher.de", "jürgen@bücher.de"),
        ("phone", "+44 20 7946 0018", "+442079460018"),
        ("phone", "+1 (415) 555-2671", "+14155552671"),
        ("customer_id", "  cus_9s6XKzkNRiz8i3 ", "cus_9s6XKzkNRiz8i3"),
    ],
)
def test_parse_identity_normalises(kind: str, typed: str, normal: str) -> None:
    assert parse_identity(kind, typed) == normal


@pytest.mark.parametrize(
    ("kind", "typed"),
    [
        ("email", "jane@"),
        ("email", "jane doe@example.com"),
        ("email", "a" * 400 + "@example.com"),
        ("phone", "12"),
        ("phone", "+49 30"),
        ("phone", "call me"),
        ("customer_id", "   "),
        ("customer_id", "cus\x00"),
        ("passport", "X123"),
    ],
)
def test_parse_identity_refuses_without_repeating_the_value(kind: str, typed: str) -> None:
    with pytest.raises(InvalidIdentity) as info:
        parse_identity(kind, typed)
    assert info.value.code == "INVALID_IDENTITY"
    assert typed.strip() not in info.value.message or not typed.strip()


def test_lookup_values_are_lenient_and_never_raise() -> None:
    assert lookup_values("email", "  A@XN--BCHER-KVA.DE") == ["a@xn--bcher-kva.de", "a@bücher.de"]
    assert lookup_values("phone", "not a phone") == []
    assert lookup_values("phone", 4930901820) == []  # no country code: not looked up rather than guessed
    assert lookup_values("customer_id", 42) == ["42"]
    assert lookup_values("customer_id", None) == [] and lookup_values("email", True) == []
