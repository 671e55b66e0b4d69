"""`dsar datamap discover` on real SQLite, PostgreSQL and MariaDB: the draft loads, passes `datamap check`, finds
the identities, references (declared or not) and categories, and reads bounded samples only."""

from __future__ import annotations

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
from tests.discovery.shop_schema import REFERENCES, TRUTH, build

runner = CliRunner()


def discover(tmp_path: Path, *args: str) -> tuple[Path, str]:
    out = tmp_path / "draft.yaml"
    r = runner.invoke(app, ["datamap", "discover", *args, "--out", str(out), "--verbose"])
    assert r.exit_code == 0, r.output
    return out, r.output


def checked(path: Path) -> None:
    dm = load(path)
    sources = Sources(dm, connect)
    try:
        report = check(dm, sources)
    finally:
        sources.dispose()
    assert report.ok, report.errors


def assert_found(path: Path, source: str) -> None:
    dm = load(path)
    customers = dm.collections[f"{source}.customers"]
    assert customers.identities["email"].column == "email"
    assert dm.collections[f"{source}.newsletter"].identities["email"].column == "subscriber_email"
    assert "password_hash" in customers.exclude
    for (table, column), category in TRUTH.items():
        spec = dm.collections[f"{source}.{table}"].fields.get(column)
        assert spec is not None, (table, column)
        assert spec.categories[0].startswith(category), (table, column, spec.categories)
        assert spec.erase is not None
    refs = {
        (dm.name_of(key), r.column, r.to.split(".")[1], r.to.split(".")[2])
        for key, coll in dm.collections.items()
        for r in coll.references
    }
    assert refs >= REFERENCES
    assert f"{source}.products" not in dm.collections  # no personal data, linked to none


@pytest.mark.parametrize("fks", [True, False], ids=["declared-fks", "no-fks"])
def test_sqlite_draft_loads_passes_check_and_finds_the_personal_data(tmp_path: Path, fks: bool) -> None:
    build(f"sqlite:///{tmp_path}/shop.sqlite", fks=fks)
    out, output = discover(tmp_path, "--source", f"shop=sqlite:///{tmp_path}/shop.sqlite", "--sample", "100")
    checked(out)
    assert_found(out, "shop")
    text = out.read_text()
    assert ("declared foreign key" in text) is fks
    assert "REVIEW" in text
    assert "@" not in re.sub(r"^ *[^#].*$", "", text, flags=re.MULTILINE)  # comments quote no sampled value
    tables = "|".join(t for t, _ in TRUTH) + "|orders|products"
    reads = [line for line in output.splitlines() if re.search(rf'\bFROM "?({tables})"?(\s|$)', line)]
    assert reads and all(re.search(r"LIMIT 100\b", s) or " IN (" in s for s in reads), reads


def test_no_declared_fks_option_infers_them(tmp_path: Path) -> None:
    build(f"sqlite:///{tmp_path}/shop.sqlite", fks=True)
    out, _ = discover(tmp_path, "--source", f"sqlite:///{tmp_path}/shop.sqlite", "--no-declared-fks")
    assert "declared foreign key" not in out.read_text()
    assert_found(out, "shop")


@pytest.mark.postgres
def test_postgresql_samples_large_tables_with_tablesample(tmp_path: Path, pg_url: str) -> None:
    build(pg_url, fks=False, customers=3000)
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(sa.text("ANALYZE"))
    engine.dispose()
    out, output = discover(tmp_path, "--source", f"shop={pg_url}", "--sample", "50")
    checked(out)
    assert_found(out, "shop")
    assert "TABLESAMPLE SYSTEM" in output
    for line in output.splitlines():
        if line.strip().startswith("SELECT") and " FROM customers" in line:
            assert "LIMIT 50" in line or " IN (" in line, line


@pytest.mark.mysql
def test_mariadb_draft_loads_and_passes_check(tmp_path: Path, mysql_url: str) -> None:
    build(mysql_url, fks=True)
    out, output = discover(tmp_path, "--source", f"shop={mysql_url}", "--sample", "80")
    checked(out)
    assert_found(out, "shop")
    assert "LIMIT 80" in output


@pytest.mark.postgres
def test_a_password_in_the_url_is_not_written(tmp_path: Path, pg_url: str) -> None:
    build(pg_url, fks=True, customers=20)
    with_password = pg_url.replace("postgres@", "postgres:not-the-real-one@")
    out, _ = discover(tmp_path, "--source", f"shop={with_password}")
    text = out.read_text()
    assert "not-the-real-one" not in text and "${SHOP_PASSWORD}" in text
    load(out, env={"SHOP_PASSWORD": "x"})


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--source", "sqlite:////nonexistent/dir/x.sqlite"], "does not exist"),
        (["--source", "postgresql+psycopg://postgres@127.0.0.1:1/nothing"], "cannot connect to 127.0.0.1:1"),
        (["--source", "not a url"], "'not a url' is not a source URL: write a database URL, e.g. postgresql"),
        (["--source", "a=sqlite:///x.db", "--source", "a=sqlite:///y.db"], "two sources are named 'a'"),
    ],
)
def test_bad_sources_are_one_line_errors(tmp_path: Path, args: list[str], expected: str) -> None:
    r = runner.invoke(app, ["datamap", "discover", *args, "--out", str(tmp_path / "x.yaml")])
    assert r.exit_code == 1, r.output
    assert expected in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) <= 2
    assert not (tmp_path / "x.yaml").exists()


def test_a_relative_sqlite_path_is_written_absolute_and_a_bare_path_gets_a_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "db").mkdir()
    build(f"sqlite:///{tmp_path}/db/shop.sqlite", fks=True)
    monkeypatch.chdir(tmp_path)
    out, _output = discover(tmp_path, "--source", "shop=sqlite:///db/shop.sqlite", "--sample", "50")
    assert f"sqlite:///{tmp_path}/db/shop.sqlite" in out.read_text()
    monkeypatch.chdir(tmp_path / "db")  # the draft is checked from another folder
    checked(out)
    r = runner.invoke(app, ["datamap", "discover", "--source", "shop.sqlite", "--out", str(tmp_path / "x.yaml")])
    assert r.exit_code == 1 and f"e.g. sqlite:///{tmp_path}/db/shop.sqlite" in r.output, r.output


def test_names_the_data_map_cannot_write_and_empty_sources_still_give_a_loading_draft(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path}/odd.sqlite")
    with engine.begin() as conn:
        conn.exec_driver_sql('CREATE TABLE "Odd Table" ("my id" INTEGER PRIMARY KEY, "E-Mail" TEXT)')
        conn.exec_driver_sql('CREATE TABLE members (id INTEGER PRIMARY KEY, email TEXT, "pass word" TEXT)')
        for i in range(20):
            conn.exec_driver_sql(f"INSERT INTO \"Odd Table\" VALUES ({i}, 'u{i}@example.org')")
            conn.exec_driver_sql(f"INSERT INTO members VALUES ({i}, 'm{i}@example.org', 'secret')")
    engine.dispose()
    sa.create_engine(f"sqlite:///{tmp_path}/empty.sqlite").connect().close()
    out, _ = discover(
        tmp_path, "--source", f"sqlite:///{tmp_path}/odd.sqlite", "--source", f"sqlite:///{tmp_path}/empty.sqlite"
    )
    checked(out)
    dm = load(out)
    assert list(dm.collections) == ["odd.members"]
    assert dm.collections["odd.members"].identities["email"].column == "email"
    assert "REVIEW: odd.Odd_Table holds personal data" in out.read_text()
