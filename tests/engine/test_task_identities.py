"""Tasks for a subject known by a phone or a customer id (`PrivacyTasks.start_for`, the case layer's way in):
validated per kind, kept with the task, walked and erased like an e-mail subject."""

from __future__ import annotations

import sqlite3
import zipfile
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from dsar.bootstrap import Container
from dsar.datamap.identities import InvalidIdentity
from dsar.db.migrate import upgrade
from dsar.kit.clock import FrozenClock
from dsar.tasks.jobs import result_key
from dsar.tasks.models import COMPLETED, DELETION, RETRIEVAL
from tests.api.harness import settings_for

DATAMAP = """
version: 1
identities: {email: email, phone: phone, account: customer_id}
sources:
  shop: {url: "sqlite:///%(db)s"}
collections:
  shop.customers:
    primary_key: [id]
    identities:
      email: {column: email}
      phone: {column: phone_e164, match: exact}
      account: {column: account_no, match: exact}
    fields: {email: {erase: delete_row}}
    processing: {purpose: Account, legal_basis: b, retention: r}
  shop.orders:
    primary_key: [id]
    references: [{column: customer_id, to: shop.customers.id}]
    fields: {customer_id: {erase: delete_row}}
    processing: {purpose: Orders, legal_basis: b, retention: r}
"""


@pytest.fixture
def c(tmp_path: Path) -> Iterator[Container]:
    db = tmp_path / "shop.sqlite"
    with closing(sqlite3.connect(db)) as conn:
        conn.executescript(
            "CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT, phone_e164 TEXT, account_no TEXT);"
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, total TEXT);"
            "INSERT INTO customers VALUES (1, 'jane@example.com', '+4930901820', 'A-1'),"
            " (2, 'bob@example.com', '+14155552671', 'A-2');"
            "INSERT INTO orders VALUES (10, 1, '9.99'), (11, 2, '5.00'), (12, 2, '7.00');"
        )
    (tmp_path / "dm").mkdir()
    (tmp_path / "dm" / "datamap.yaml").write_text(DATAMAP % {"db": db})
    container = Container(settings_for(tmp_path, tmp_path / "dm"), clock=FrozenClock(), with_workers=False)
    upgrade(container.db.engine)
    try:
        yield container
    finally:
        container.close()


def _run(c: Container, tid: str) -> None:
    assert c.worker.claim("w1") == tid
    c.worker.run(tid, "w1")


def test_a_retrieval_by_phone_finds_the_subject_and_what_hangs_off_it(c: Container) -> None:
    tid = c.tasks.start_for("t1", RETRIEVAL, {"phone": "+49 (30) 901820"})
    _run(c, tid)
    assert c.tasks.get("t1", tid, RETRIEVAL).status == COMPLETED
    with c.storage.open(result_key(tid)) as fh, zipfile.ZipFile(fh) as zf:
        text = b"".join(zf.read(n) for n in zf.namelist() if n.startswith("data/"))
    assert b"+4930901820" in text and b"9.99" in text
    assert b"bob@example.com" not in text and b"5.00" not in text


def test_a_deletion_by_customer_id_erases_the_subjects_rows(c: Container) -> None:
    tid = c.tasks.start_for("t1", DELETION, {"account": "  A-2 "})
    _run(c, tid)
    assert c.tasks.get("t1", tid, DELETION).status == COMPLETED
    with closing(sqlite3.connect(str(c.datamap.sources["shop"].url.removeprefix("sqlite:///")))) as conn:
        assert conn.execute("SELECT id FROM customers").fetchall() == [(1,)]
        assert conn.execute("SELECT id FROM orders").fetchall() == [(10,)]


def test_the_same_client_token_and_identities_give_the_same_task(c: Container) -> None:
    first = c.tasks.start_for("t1", RETRIEVAL, {"phone": "+4930901820"}, client_token="tok-1")
    assert c.tasks.start_for("t1", RETRIEVAL, {"phone": "+49 30 901820"}, client_token="tok-1") == first
    with pytest.raises(Exception, match="different input"):
        c.tasks.start_for("t1", RETRIEVAL, {"phone": "+14155552671"}, client_token="tok-1")


@pytest.mark.parametrize(
    ("identities", "says"),
    [
        ({"phone": "12"}, "phone number is not valid"),
        ({"email": "jane@"}, "e-mail address is not valid"),
        ({"fax": "+4930901820"}, "Unknown identity 'fax'"),
        ({}, "at least one identity"),
    ],
)
def test_bad_identities_are_refused_without_their_value(c: Container, identities: dict[str, str], says: str) -> None:
    with pytest.raises(InvalidIdentity) as info:
        c.tasks.start_for("t1", RETRIEVAL, identities)
    assert says in info.value.message and info.value.code == "INVALID_IDENTITY"
    assert all(v not in info.value.message for v in identities.values())


def test_an_internationalised_address_is_a_way_in_too(c: Container) -> None:
    tid = c.tasks.start_for("t1", RETRIEVAL, {"email": "JANE@example.com", "phone": "+4930901820"})
    _run(c, tid)
    assert c.tasks.get("t1", tid, RETRIEVAL).status == COMPLETED
    with pytest.raises(InvalidIdentity):
        c.tasks.start_for("t1", RETRIEVAL, {"email": "用户@"})
    assert c.tasks.start_for("t1", RETRIEVAL, {"email": "用户@例子.广告"})
