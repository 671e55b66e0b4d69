"""`dsar datamap coverage` against the demo: nothing uncovered as built; a table of e-mails the map does not
reach is listed and the exit status is 1; a mapped field filed under the wrong category is a warning."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

from typer.testing import CliRunner

from dsar.cli.app import app

runner = CliRunner()


def _copy(demo_dir: Path, tmp_path: Path) -> Path:
    for name in ("shop.sqlite", "support.sqlite", "datamap.yaml"):
        shutil.copy(demo_dir / name, tmp_path / name)
    return tmp_path / "datamap.yaml"


def test_the_demo_map_covers_the_demo(demo_dir: Path, tmp_path: Path) -> None:
    r = runner.invoke(app, ["datamap", "coverage", "--datamap", str(_copy(demo_dir, tmp_path))])
    assert r.exit_code == 0, r.output
    assert "0 not covered" in r.output


def test_a_table_of_e_mails_the_map_does_not_reach_is_flagged(demo_dir: Path, tmp_path: Path) -> None:
    datamap = _copy(demo_dir, tmp_path)
    with closing(sqlite3.connect(tmp_path / "shop.sqlite")) as conn:
        conn.execute("CREATE TABLE newsletter_signups (id INTEGER PRIMARY KEY, contact TEXT, signed_up TEXT)")
        conn.executemany(
            "INSERT INTO newsletter_signups (contact, signed_up) VALUES (?, ?)",
            [(f"reader{i}@example.org", "2026-01-01") for i in range(40)],
        )
        conn.commit()
    r = runner.invoke(app, ["datamap", "coverage", "--datamap", str(datamap)])
    assert r.exit_code == 1, r.output
    lines = [line for line in r.output.splitlines() if line.startswith("uncovered: ")]
    assert len(lines) == 1
    assert lines[0].startswith("uncovered: shop.newsletter_signups.contact: user.contact.email")
    assert "is in no collection of the data map" in lines[0]
    assert "reader0@example.org" not in r.output  # evidence counts values, never quotes them


def test_an_unreachable_collection_and_a_wrong_category_are_reported(demo_dir: Path, tmp_path: Path) -> None:
    datamap = _copy(demo_dir, tmp_path)
    text = datamap.read_text()
    # shop.login_events loses its reference (so nothing reaches it); tickets' e-mail is filed as a name
    block = "    description: Sign-ins to your account\n    primary_key: [id]\n"
    ref = "    references:\n      - {column: customer_id, to: shop.customers.id}\n"
    assert block + ref in text
    text = text.replace(block + ref, block)
    text = text.replace(
        "requester_email: {categories: [user.contact.email]", "requester_email: {categories: [user.name]"
    )
    datamap.write_text(text)
    r = runner.invoke(app, ["datamap", "coverage", "--datamap", str(datamap)])
    assert "warning: support.tickets.fields.requester_email: declared user.name" in r.output, r.output
    assert "uncovered: shop.login_events.ip_address: user.device.ip_address" in r.output
    assert "which no identity or reference reaches" in r.output
    assert r.exit_code == 1


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    r = runner.invoke(app, ["datamap", "coverage", "--datamap", str(tmp_path / "missing.yaml")])
    assert r.exit_code == 1 and "cannot read the data map" in r.output
    bad = tmp_path / "map.yaml"
    bad.write_text('sources: {s: {url: "sqlite:////nonexistent/x.sqlite"}}\ncollections: {}\n')
    r = runner.invoke(app, ["datamap", "coverage", "--datamap", str(bad)])
    assert (
        r.exit_code == 1 and r.output.strip() == "error: source s: the SQLite file /nonexistent/x.sqlite does not exist"
    )


KINDS_MAP = """
version: 1
identities: {phone: phone, card: customer_id}
sources:
  crm: {url: "sqlite:///${DATAMAP_DIR}/crm.sqlite"}
collections:
  crm.contacts:
    primary_key: [id]
    identities: {phone: {column: phone_e164, match: exact}}
    processing: {purpose: Contacts, legal_basis: "Art. 6(1)(f) GDPR", retention: 2 years}
  crm.calls:
    primary_key: [id]
    references: [{column: contact_id, to: crm.contacts.id}]
    processing: {purpose: Call log, legal_basis: "Art. 6(1)(f) GDPR", retention: 1 year}
  crm.loyalty:
    primary_key: [card_no]
    identities: {card: {column: card_no, match: exact}}
    processing: {purpose: Loyalty scheme, legal_basis: "Art. 6(1)(b) GDPR", retention: 2 years}
"""


def test_phone_and_customer_id_identities_reach_collections(tmp_path: Path) -> None:
    with closing(sqlite3.connect(tmp_path / "crm.sqlite")) as conn:
        conn.execute("CREATE TABLE contacts (id INTEGER PRIMARY KEY, phone_e164 TEXT, full_name TEXT)")
        conn.execute("CREATE TABLE calls (id INTEGER PRIMARY KEY, contact_id INTEGER, caller_ip TEXT)")
        conn.execute("CREATE TABLE loyalty (card_no TEXT PRIMARY KEY, holder_email TEXT)")
        names = ["Ada Lovelace", "Chen Wang", "Elif Yilmaz", "Goran Novak"]
        for i in range(40):
            conn.execute("INSERT INTO contacts VALUES (?, ?, ?)", (i + 1, f"+44207946{1000 + i}", names[i % 4]))
            conn.execute("INSERT INTO calls VALUES (?, ?, ?)", (i + 1, i + 1, f"192.0.2.{i + 1}"))
            conn.execute("INSERT INTO loyalty VALUES (?, ?)", (f"L-{i}", f"holder{i}@example.org"))
        conn.commit()
    datamap = tmp_path / "datamap.yaml"
    datamap.write_text(KINDS_MAP)
    r = runner.invoke(app, ["datamap", "coverage", "--datamap", str(datamap)])
    assert r.exit_code == 0, r.output
    assert "0 not covered" in r.output
    # without their identities nothing reaches them: every personal column is listed
    datamap.write_text(
        KINDS_MAP.replace("    identities: {phone: {column: phone_e164, match: exact}}\n", "").replace(
            "    identities: {card: {column: card_no, match: exact}}\n", ""
        )
    )
    r = runner.invoke(app, ["datamap", "coverage", "--datamap", str(datamap)])
    assert r.exit_code == 1, r.output
    uncovered = sorted(line.split(":")[1].strip() for line in r.output.splitlines() if line.startswith("uncovered: "))
    assert uncovered == [
        "crm.calls.caller_ip",
        "crm.contacts.full_name",
        "crm.contacts.phone_e164",
        "crm.loyalty.holder_email",
    ], r.output
