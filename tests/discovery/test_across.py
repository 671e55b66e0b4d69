"""References across sources in the draft of `dsar datamap discover --source A --source B`: a shop on SQLite,
a back office on SQLite or PostgreSQL. The back office's accounts hold the shop's customer ids under a name that
says so (`shop_customer_id`), its subscriptions the shop's member numbers, its contacts the same e-mail
addresses and phone numbers (in E.164); its refunds and coupons have `customer_id` and `order_id` columns of
their own numbering. The draft loads, passes `datamap check`, and a request made by member number reaches the
back office's rows of that person and of nobody else."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from dsar.cli.app import app
from dsar.connectors.registry import connect
from dsar.datamap.loader import load
from dsar.engine.check import check
from dsar.engine.sources import Sources

runner = CliRunner()
PEOPLE = 30
FIRST = ["Ada", "Brigitte", "Chen", "Dmitri", "Elif", "Farah", "Goran", "Hana"]
LAST = ["Lovelace", "Meier", "Wang", "Petrov", "Yilmaz", "Haddad", "Novak", "Sato"]


def build_shop(url: str) -> None:
    meta = sa.MetaData()
    customers = sa.Table(
        "customers",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("member_no", sa.String(20), unique=True),
        sa.Column("email", sa.String(120)),
        sa.Column("phone", sa.String(30)),
        sa.Column("full_name", sa.String(80)),
    )
    orders = sa.Table(
        "orders",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), index=True),
        sa.Column("total", sa.Numeric(10, 2)),
    )
    engine = sa.create_engine(url)
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            customers.insert(),
            [
                {
                    "id": i + 1,
                    "member_no": f"M-{10000 + i}",
                    "email": f"person{i}@example.org",
                    "phone": f"+49 30 {9000000 + i}",
                    "full_name": f"{FIRST[i % 8]} {LAST[(i * 3) % 8]}",
                }
                for i in range(PEOPLE)
            ],
        )
        conn.execute(orders.insert(), [{"id": i + 1, "customer_id": i % PEOPLE + 1, "total": 10} for i in range(60)])
    engine.dispose()


def build_backoffice(url: str) -> None:
    meta = sa.MetaData()
    accounts = sa.Table(
        "accounts",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("shop_customer_id", sa.Integer, index=True),
        sa.Column("iban", sa.String(34)),
    )
    invoices = sa.Table(
        "invoices",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), index=True),
        sa.Column("amount", sa.Numeric(10, 2)),
    )
    subscriptions = sa.Table(
        "subscriptions",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("member_no", sa.String(20), index=True),
        sa.Column("plan", sa.String(20)),
    )
    contacts = sa.Table(
        "contacts",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(120)),
        sa.Column("phone_e164", sa.String(20)),
        sa.Column("full_name", sa.String(80)),
    )
    # unrelated numbers of the same shape: the back office's own customer and order numbering
    refunds = sa.Table(
        "refunds",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("order_id", sa.Integer),
        sa.Column("reason", sa.String(40)),
    )
    coupons = sa.Table(
        "coupons",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.Integer),
        sa.Column("code", sa.String(20)),
    )
    # tickets people write about a shop customer (`shop_customer_id`), each by its own requester: other people
    tickets = sa.Table(
        "tickets",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("requester_email", sa.String(120)),
        sa.Column("shop_customer_id", sa.Integer, index=True),
    )
    engine = sa.create_engine(url)
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            tickets.insert(),
            [
                {"id": i + 1, "requester_email": f"neighbour{i}@example.net", "shop_customer_id": i % PEOPLE + 1}
                for i in range(20)
            ],
        )
        # accounts 501.. hold shop customers PEOPLE..1, so no account id equals its customer's id and a small
        # sample of each table holds different customers (the lookup in the shop decides)
        conn.execute(
            accounts.insert(),
            [{"id": 501 + i, "shop_customer_id": PEOPLE - i, "iban": "DE89370400440532013000"} for i in range(PEOPLE)],
        )
        conn.execute(
            invoices.insert(), [{"id": i + 1, "account_id": 501 + i % PEOPLE, "amount": 5} for i in range(2 * PEOPLE)]
        )
        conn.execute(
            subscriptions.insert(),
            [{"id": i + 1, "member_no": f"M-{10000 + i * 2}", "plan": "gold"} for i in range(PEOPLE // 2)],
        )
        conn.execute(
            contacts.insert(),
            [
                {
                    "id": i + 1,
                    "email": f"person{i}@example.org" if i < PEOPLE else f"lead{i}@example.net",
                    "phone_e164": f"+4930{9000000 + i}",
                    "full_name": f"{FIRST[i % 8]} {LAST[(i * 3) % 8]}",
                }
                for i in range(PEOPLE + 10)
            ],
        )
        # the back office's order numbers run from 1 to 200: most are no shop order
        conn.execute(
            refunds.insert(), [{"id": i + 1, "order_id": i * 7 % 200 + 1, "reason": "late"} for i in range(80)]
        )
        # its customer numbers 1..20 all lie among the shop's keys 1..30, by chance
        conn.execute(coupons.insert(), [{"id": i + 1, "customer_id": i % 20 + 1, "code": f"C{i}"} for i in range(40)])
    engine.dispose()


def discover(tmp_path: Path, shop: str, office: str) -> tuple[Path, str]:
    out = tmp_path / "draft.yaml"
    r = runner.invoke(
        app,
        [
            "datamap",
            "discover",
            *("--source", f"shop={shop}", "--source", f"office={office}"),
            *("--sample", "10", "--out", str(out), "--verbose"),
        ],
    )
    assert r.exit_code == 0, r.output
    return out, r.output


def retrieve(path: Path, identities: dict[str, str], spool: Path) -> dict[str, list[bytes]]:
    from dsar.engine.execute import EngineOptions, run_retrieval
    from dsar.engine.plan import build_plan

    dm = load(path)
    spool.mkdir()
    sources = Sources(dm, connect)
    try:
        results, _ = run_retrieval(dm, build_plan(dm), sources, identities, spool, EngineOptions(sleep=lambda s: None))
    finally:
        sources.dispose()
    out = {}
    for res in results:
        rows = res.spool.read_bytes().splitlines() if res.spool and res.spool.exists() else []
        if rows:
            out[res.key] = rows
    return out


def assert_across(path: Path, output: str, tmp_path: Path) -> None:
    text = path.read_text()
    dm = load(path)
    refs = {(key, r.column, r.to, r.identity, r.match) for key, c in dm.collections.items() for r in c.references}
    assert ("office.accounts", "shop_customer_id", "shop.customers.id", None, "exact") in refs
    assert ("office.subscriptions", "member_no", "shop.customers.member_no", None, "exact") in refs
    assert ("office.contacts", "email", "shop.customers.email", "email", "lower_trim") in refs
    assert ("office.contacts", "phone_e164", "shop.customers.phone", "phone", "exact") in refs
    assert ("office.invoices", "account_id", "office.accounts.id", None, "exact") in refs  # walked on from there
    # numbers of their own that lie partly (refunds) or wholly but by chance (coupons) among the shop's keys:
    # REVIEW comments, not references
    assert not any(k in ("office.refunds", "office.coupons") for k, *_ in refs)
    assert re.search(r"REVIEW: candidate reference order_id -> shop\.orders\.id \(another source\) not walked", text)
    assert re.search(
        r"REVIEW: candidate reference customer_id -> shop\.customers\.id \(another source\) not walked "
        r"\(confidence 0\.45: .*dense counter",
        text,
    )
    assert re.search(r"# confidence 0\.90, across sources: name 'shop_customer_id' names shop\.customers", text)
    # a table whose rows have their own identity holds other people's rows: named, not walked
    assert ("office.tickets", "shop_customer_id", "shop.customers.id", None, "exact") not in refs
    assert "REVIEW: reference shop_customer_id -> shop.customers.id (another source, confidence 0.90" in text
    assert "tickets rows have their own identity (other people)" in text
    # the values were looked up in the other source with bounded, indexed IN lookups
    assert re.search(r'FROM "?customers"? WHERE "?id"? IN \(', output)
    sources = Sources(dm, connect)
    try:
        report = check(dm, sources)
    finally:
        sources.dispose()
    assert report.ok, report.errors
    assert not any("not reachable" in line for line in report.lines), report.lines
    # a request by member number (no e-mail given) reaches the person's rows in the back office
    found = retrieve(path, {"customer_id": "M-10004"}, tmp_path / "spool")
    assert set(found) >= {"office.accounts", "office.invoices", "office.subscriptions", "office.contacts"}
    rows = {key: [json.loads(r) for r in lines] for key, lines in found.items()}
    assert [r["shop_customer_id"] for r in rows["office.accounts"]] == [5]
    assert [r["account_id"] for r in rows["office.invoices"]] == [526, 526]
    assert [r["member_no"] for r in rows["office.subscriptions"]] == ["M-10004"]
    assert [r["email"] for r in rows["office.contacts"]] == ["person4@example.org"]
    assert not any(k in found for k in ("office.refunds", "office.coupons", "office.tickets"))


def test_sqlite_to_sqlite_references_across_sources(tmp_path: Path) -> None:
    shop, office = f"sqlite:///{tmp_path}/shop.sqlite", f"sqlite:///{tmp_path}/office.sqlite"
    build_shop(shop)
    build_backoffice(office)
    path, output = discover(tmp_path, shop, office)
    assert_across(path, output, tmp_path)


@pytest.mark.postgres
def test_sqlite_to_postgresql_references_across_sources(tmp_path: Path, pg_url: str) -> None:
    shop = f"sqlite:///{tmp_path}/shop.sqlite"
    build_shop(shop)
    build_backoffice(pg_url)
    path, output = discover(tmp_path, shop, pg_url)
    assert_across(path, output, tmp_path)


def test_one_source_has_no_references_across(tmp_path: Path) -> None:
    shop = f"sqlite:///{tmp_path}/shop.sqlite"
    build_shop(shop)
    out = tmp_path / "one.yaml"
    r = runner.invoke(app, ["datamap", "discover", "--source", f"shop={shop}", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "across sources" not in out.read_text()
