"""Identity kinds in the draft `dsar datamap discover` writes, on real SQLite, PostgreSQL and MariaDB: e-mail
columns of one table as a list, an E.164 phone and a customer number as identities (declared at the top with
their kinds), a phone in other formats and a surrogate key as REVIEW comments; the draft loads, passes
`datamap check`, and finds a person by phone and by customer number."""

from __future__ import annotations

import re
from datetime import datetime
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
PEOPLE = 40


def build(url: str) -> None:
    """Members with two e-mail columns, an E.164 mobile, a formatted landline and a member number; their logins;
    contacts known by an E.164 phone only; and a shop's customers keyed by a counter."""
    meta = sa.MetaData()
    members = sa.Table(
        "members",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("member_no", sa.String(20), unique=True),
        sa.Column("email", sa.String(120)),
        sa.Column("alt_email", sa.String(120)),
        sa.Column("mobile", sa.String(20)),
        sa.Column("landline", sa.String(30)),
        sa.Column("full_name", sa.String(80)),
    )
    logins = sa.Table(
        "logins",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("member_id", sa.Integer, index=True),
        sa.Column("logged_in", sa.DateTime),
    )
    contacts = sa.Table(
        "contacts",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("phone_e164", sa.String(20)),
        sa.Column("full_name", sa.String(80)),
    )
    customers = sa.Table(
        "customers",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(120)),
    )
    engine = sa.create_engine(url)
    meta.create_all(engine)
    first = ["Ada", "Brigitte", "Chen", "Dmitri", "Elif", "Farah", "Goran", "Hana"]
    last = ["Lovelace", "Meier", "Wang", "Petrov", "Yilmaz", "Haddad", "Novak", "Sato"]
    with engine.begin() as conn:
        conn.execute(
            members.insert(),
            [
                {
                    "id": i + 1,
                    "member_no": f"M-{10000 + i}",
                    "email": f"member{i}@example.org",
                    "alt_email": f"member{i}.alt@example.net" if i % 2 else None,
                    "mobile": f"+49151{2000000 + i}",
                    "landline": f"+49 30 {9000000 + i}",
                    "full_name": f"{first[i % 8]} {last[(i * 3) % 8]}",
                }
                for i in range(PEOPLE)
            ],
        )
        conn.execute(
            logins.insert(),
            [
                {"id": i + 1, "member_id": i % PEOPLE + 1, "logged_in": datetime(2026, 1, i % 28 + 1, 10)}
                for i in range(3 * PEOPLE)
            ],
        )
        conn.execute(
            contacts.insert(),
            [
                {"id": i + 1, "phone_e164": f"+44207946{1000 + i}", "full_name": f"{first[i % 8]} {last[i % 8]}"}
                for i in range(PEOPLE)
            ],
        )
        conn.execute(customers.insert(), [{"id": i + 1, "email": f"c{i}@example.com"} for i in range(PEOPLE)])
    engine.dispose()


def discover(tmp_path: Path, url: str) -> tuple[Path, str]:
    out = tmp_path / "draft.yaml"
    r = runner.invoke(app, ["datamap", "discover", "--source", f"club={url}", "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out, out.read_text()


def retrieve(path: Path, identities: dict[str, str], spool: Path) -> dict[str, int]:
    """Rows per collection a walk from these identities finds."""
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
            out[res.key] = len(rows)
    return out


def assert_draft(path: Path, text: str) -> None:
    dm = load(path)
    assert dm.identities == {"email": "email", "phone": "phone", "customer_id": "customer_id"}
    members = dm.collections["club.members"]
    assert [(n, m.column, m.match) for n, m in members.identity_matches()] == [
        ("email", "email", "lower_trim"),
        ("email", "alt_email", "lower_trim"),
        ("phone", "mobile", "exact"),
        ("customer_id", "member_no", "exact"),
    ]
    # a phone whose values are not E.164 would never match: a REVIEW comment says what to map instead
    assert re.search(r"# REVIEW: identity candidate phone landline \(0\.50\): .*not in E\.164", text)
    # contacts have no e-mail: their E.164 phone makes them an entry point of their own
    contacts = dm.collections["club.contacts"]
    assert [(n, m.column) for n, m in contacts.identity_matches()] == [("phone", "phone_e164")]
    # a counter key of a table of people is only a candidate for review
    assert [n for n, _ in dm.collections["club.customers"].identity_matches()] == ["email"]
    assert "# REVIEW: identity candidate customer_id id (0.60)" in text
    logins = dm.collections["club.logins"]
    assert [(r.column, r.to) for r in logins.references] == [("member_id", "club.members.id")]
    assert logins.fields["logged_in"].categories == ["user.behavior"]
    sources = Sources(dm, connect)
    try:
        report = check(dm, sources)
    finally:
        sources.dispose()
    assert report.ok, report.errors
    assert not any("not reachable" in line for line in report.lines), report.lines


def _walk_finds_the_person(path: Path, spool: Path) -> None:
    member = {"club.members": 1, "club.logins": 3}
    assert retrieve(path, {"phone": "+491512000007"}, spool / "a") == member
    assert retrieve(path, {"customer_id": "M-10003"}, spool / "b") == member
    assert retrieve(path, {"email": "member5.alt@example.net"}, spool / "c") == member
    assert retrieve(path, {"phone": "+442079461002"}, spool / "d") == {"club.contacts": 1}


def test_sqlite_draft_has_phone_customer_number_and_listed_e_mails(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/club.sqlite"
    build(url)
    path, text = discover(tmp_path, url)
    assert_draft(path, text)
    _walk_finds_the_person(path, tmp_path)


@pytest.mark.postgres
def test_postgresql_draft_has_the_identity_kinds(tmp_path: Path, pg_url: str) -> None:
    build(pg_url)
    path, text = discover(tmp_path, pg_url)
    assert_draft(path, text)
    _walk_finds_the_person(path, tmp_path)


@pytest.mark.mysql
def test_mariadb_draft_has_the_identity_kinds(tmp_path: Path, mysql_url: str) -> None:
    build(mysql_url)
    path, text = discover(tmp_path, mysql_url)
    assert_draft(path, text)
    _walk_finds_the_person(path, tmp_path)


def test_no_sure_identity_but_e_mail_declares_e_mail_only(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path}/n.sqlite")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE readers (id INTEGER PRIMARY KEY, email TEXT)")
        for i in range(20):
            conn.exec_driver_sql(f"INSERT INTO readers VALUES ({i + 1}, 'r{i}@example.org')")
    engine.dispose()
    path, text = discover(tmp_path, f"sqlite:///{tmp_path}/n.sqlite")
    assert load(path).identities == {"email": "email"}
    assert "identities:\n  email: email\nsources:" in text


def test_the_key_of_a_table_not_named_for_people_is_no_customer_id(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path}/r.sqlite")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE service_request (id TEXT PRIMARY KEY, email TEXT)")
        for i in range(20):
            conn.exec_driver_sql(f"INSERT INTO service_request VALUES ('ser_{i}', 'r{i}@example.org')")
    engine.dispose()
    _, text = discover(tmp_path, f"sqlite:///{tmp_path}/r.sqlite")
    assert "customer_id" not in text
