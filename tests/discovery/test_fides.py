"""Fides datasets in and out: import (references in both directions, identities, nested fields), export, the
round trip, fideslang validation, and one-line errors for bad files."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from dsar.cli.app import app
from dsar.datamap.loader import load, parse
from dsar.datamap.model import DataMap
from dsar.discovery.fides import export_fides, import_fides, read_datasets

FIXTURES = Path(__file__).parent / "fixtures"
DEMO_MAP = Path(__file__).resolve().parents[2] / "src" / "dsar" / "demo" / "datamap.yaml"
runner = CliRunner()


def _shape(path_or_text: Path | str, env: dict[str, str]) -> dict[str, object]:
    dm = load(path_or_text, env=env) if isinstance(path_or_text, Path) else parse(path_or_text, env=env)
    return {
        "identities": dict(dm.identities),
        **{
            key: (
                list(c.primary_key),
                [(name, m.column, m.match) for name, m in c.identity_matches()],
                sorted((r.column, r.to) for r in c.references),
                {n: list(f.categories) for n, f in c.fields.items()},
            )
            for key, c in dm.collections.items()
        },
    }


def test_import_maps_collections_identities_and_both_directions_of_reference() -> None:
    text, warnings = import_fides(read_datasets([("ds.yml", (FIXTURES / "webshop_dataset.yml").read_text())]))
    dm = parse(text, env={"WEBSHOP_DB_URL": "sqlite://"})
    customer = dm.collections["webshop_db.customer"]
    assert customer.identities["email"].column == "email"
    assert customer.primary_key == ["id"]
    assert customer.fields["name"].categories == ["user.name"]
    assert customer.fields["name"].erase == "replace"
    orders = dm.collections["webshop_db.orders"]
    assert [(r.column, r.to) for r in orders.references] == [("customer_id", "webshop_db.customer.id")]
    # direction: to -> the walk goes from customer (and orders) to address
    address = dm.collections["webshop_db.address"]
    assert sorted((r.column, r.to) for r in address.references) == [
        ("id", "webshop_db.customer.address_id"),
        ("id", "webshop_db.orders.shipping_address_id"),
    ]
    # Fides' identities become dsar identities of their kinds: phone_number a phone, custom ones customer ids
    assert dict(dm.identities) == {
        "email": "email",
        "phone": "phone",
        "customer_id": "customer_id",
        "loyalty_id": "customer_id",
    }
    assert [(n, m.column, m.match) for n, m in customer.identity_matches()] == [
        ("email", "email", "lower_trim"),
        ("phone", "mobile", "exact"),
        ("customer_id", "customer_number", "exact"),
    ]
    loyalty = dm.collections["webshop_db.loyalty"]
    assert [(n, m.column) for n, m in loyalty.identity_matches()] == [("loyalty_id", "card_no")]
    assert "REVIEW: Fides custom identity 'loyalty_id', read as a customer id" in text
    # two e-mail identity columns in one table: one identity with both columns
    request = dm.collections["webshop_db.service_request"]
    assert [(n, m.column) for n, m in request.identity_matches()] == [("email", "email"), ("email", "alt_email")]
    assert not any("identity" in w for w in warnings)
    assert any("details: nested fields left out" in w for w in warnings)


def _erasure(dm: DataMap) -> dict[str, object]:
    """Per collection: the action, and the masking strategies of a masked one."""
    return {
        key: (
            c.erasure_action(),
            {
                n: (f.erase, f.replacement)
                for n, f in c.fields.items()
                if c.erasure_action() != "delete" and f.erase in ("null", "replace", "hash")
            },
        )
        for key, c in dm.collections.items()
    }


def test_demo_map_round_trips_through_fides() -> None:
    env = {"DATAMAP_DIR": "/demo"}
    exported = export_fides(load(DEMO_MAP, env=env))
    dm = load(DEMO_MAP, env=env)
    text, _ = import_fides(read_datasets([("x.yml", exported)]), {s: dm.sources[s].url for s in dm.sources})
    assert _shape(text, env) == _shape(DEMO_MAP, env)
    back = parse(text, env=env)
    assert _erasure(back) == _erasure(dm)  # actions and strategies survive (keep: by setting none)
    assert "strategy: hmac" in exported and "rewrite_value: Erased" in exported and "strategy: delete" in exported


def test_fixture_round_trips_through_the_cli(tmp_path: Path) -> None:
    first = tmp_path / "first.yaml"
    r = runner.invoke(
        app,
        [
            "datamap",
            "import-fides",
            str(FIXTURES / "webshop_dataset.yml"),
            "--out",
            str(first),
            "--url",
            "webshop_db=sqlite://",
        ],
    )
    assert r.exit_code == 0, r.output
    fides = tmp_path / "fides.yml"
    r = runner.invoke(app, ["datamap", "export-fides", "--datamap", str(first), "--out", str(fides)])
    assert r.exit_code == 0, r.output
    second = tmp_path / "second.yaml"
    r = runner.invoke(
        app, ["datamap", "import-fides", str(fides), "--out", str(second), "--url", "webshop_db=sqlite://"]
    )
    assert r.exit_code == 0, r.output
    assert _shape(first, {}) == _shape(second, {})


KINDS_MAP = """
version: 1
identities: {email: email, mobile: phone, stripe: customer_id}
sources:
  shop: {url: "sqlite://"}
collections:
  shop.customers:
    primary_key: [id]
    identities:
      email: [{column: email}, {column: alt_email}]
      mobile: {column: phone_e164, match: exact}
      stripe: {column: stripe_id, match: exact}
    fields: {email: {categories: [user.contact.email], erase: hash}}
    processing: {purpose: Accounts, legal_basis: "Art. 6(1)(b) GDPR", retention: 1 year}
  shop.orders:
    primary_key: [id]
    references: [{column: customer_id, to: shop.customers.id}]
    processing: {purpose: Orders, legal_basis: "Art. 6(1)(c) GDPR", retention: 10 years}
"""


def test_identity_kinds_and_several_columns_go_out_and_come_back() -> None:
    import yaml

    exported = export_fides(parse(KINDS_MAP))
    fields = {
        f["name"]: f.get("fides_meta", {}).get("identity")
        for f in yaml.safe_load(exported)["dataset"][0]["collections"][0]["fields"]
    }
    # Fides' own names for e-mail and phone; a customer id under the dsar identity's name (a custom identity)
    assert fields == {
        "id": None,
        "email": "email",
        "alt_email": "email",
        "phone_e164": "phone_number",
        "stripe_id": "stripe",
    }
    text, _ = import_fides(read_datasets([("x.yml", exported)]), {"shop": "sqlite://"})
    back = parse(text)
    assert dict(back.identities) == {"email": "email", "phone": "phone", "stripe": "customer_id"}
    assert [(n, m.column, m.match) for n, m in back.collections["shop.customers"].identity_matches()] == [
        ("email", "email", "lower_trim"),
        ("email", "alt_email", "lower_trim"),
        ("phone", "phone_e164", "exact"),  # a phone identity comes back under Fides' one name for phones
        ("stripe", "stripe_id", "exact"),
    ]
    assert [(r.column, r.to) for r in back.collections["shop.orders"].references] == [
        ("customer_id", "shop.customers.id")
    ]


def test_the_export_is_a_valid_fideslang_dataset(tmp_path: Path) -> None:
    import yaml
    from fideslang.models import Dataset

    doc = yaml.safe_load(export_fides(load(DEMO_MAP, env={"DATAMAP_DIR": "/demo"})))
    datasets = [Dataset.model_validate(d) for d in doc["dataset"]]
    assert {d.fides_key for d in datasets} == {"shop", "support"}
    customers = next(c for c in datasets[0].collections if c.name == "customers")
    email = next(f for f in customers.fields if f.name == "email")
    assert email.fides_meta is not None and email.fides_meta.identity == "email"


def test_bad_files_are_one_line_errors(tmp_path: Path) -> None:
    not_fides = tmp_path / "map.yml"
    not_fides.write_text("sources: {}\n")
    broken = tmp_path / "broken.yml"
    broken.write_text("dataset: [\n")
    invalid = tmp_path / "invalid.yml"
    invalid.write_text("dataset:\n  - name: no key\n    collections: []\n")
    cases = [
        (not_fides, "not a Fides dataset file"),
        (broken, "not valid YAML"),
        (invalid, "fides_key"),
        (tmp_path / "missing.yml", "cannot read"),
    ]
    for path, expected in cases:
        r = runner.invoke(app, ["datamap", "import-fides", str(path), "--out", str(tmp_path / "out.yaml")])
        assert r.exit_code == 1, r.output
        assert expected in r.output and "Traceback" not in r.output, r.output
        assert len(r.output.strip().splitlines()) == 1
    r = runner.invoke(
        app,
        [
            "datamap",
            "import-fides",
            str(FIXTURES / "webshop_dataset.yml"),
            "--out",
            str(tmp_path / "o.yaml"),
            "--url",
            "nothing",
        ],
    )
    assert r.exit_code == 1 and "DATASET_KEY=URL" in r.output


def test_an_imported_dataset_passes_check_against_its_database(tmp_path: Path) -> None:
    import sqlalchemy as sa

    from dsar.connectors.registry import connect
    from dsar.engine.check import check
    from dsar.engine.sources import Sources

    url = f"sqlite:///{tmp_path}/webshop.sqlite"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for ddl in (
            "CREATE TABLE address (id INTEGER PRIMARY KEY, street TEXT, city TEXT, zip TEXT)",
            "CREATE TABLE customer (id INTEGER PRIMARY KEY, email TEXT, name TEXT, mobile TEXT, customer_number TEXT,"
            " address_id INTEGER)",
            "CREATE TABLE loyalty (card_no TEXT PRIMARY KEY, points INTEGER)",
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, shipping_address_id INTEGER)",
            "CREATE TABLE service_request (id TEXT PRIMARY KEY, email TEXT, alt_email TEXT, opened DATE, details TEXT)",
        ):
            conn.exec_driver_sql(ddl)
    engine.dispose()
    text, _ = import_fides(
        read_datasets([("ds.yml", (FIXTURES / "webshop_dataset.yml").read_text())]), {"webshop_db": url}
    )
    dm = parse(text)
    sources = Sources(dm, connect)
    try:
        report = check(dm, sources)
    finally:
        sources.dispose()
    assert report.ok, report.errors
    assert not any("NOT reachable" in line for line in report.lines), report.lines
