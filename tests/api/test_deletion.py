"""Deletion tasks: validation, holding period (durable, cancellable), blockers, erasure in the real sources."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dsar.cli.app import app as cli
from dsar.demo.generate import build_demo
from dsar.kit.clock import FrozenClock, SystemClock
from tests.api.harness import Api, assert_validation, running_api, settings_for

M = "startPersonalDataDeletionTask"
JANE = "jane.doe@example.com"
TASK = (
    'query { personalDataDeletionTask(taskId: "%s") { taskId status submissionDate lastUpdatedDate '
    "dataSubject { type email } holdingPeriod errors { code message } } }"
)


def start(email: str, extra: str = "") -> str:
    return f'mutation {{ {M}(input: {{dataSubject: {{type: SHOPPER, email: "{email}"}}{extra}}}) {{ taskId }} }}'


def started(api: Api, email: str, extra: str = "") -> str:
    body = api.gql(start(email, extra)).json()
    assert "errors" not in body, body
    return str(body["data"][M]["taskId"])


def task(api: Api, task_id: str) -> dict[str, Any]:
    body = api.gql(TASK % task_id).json()
    assert "errors" not in body, body
    return dict(body["data"]["personalDataDeletionTask"])


def wait(api: Api, task_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        t = task(api, task_id)
        if t["status"] in ("COMPLETED", "FAILED"):
            return t
        time.sleep(0.05)
    raise AssertionError(f"deletion {task_id} did not finish")


def fresh_token(api: Api) -> str:
    cid, secret = api.container.auth.create_client("later", ["privacy:manage"])
    return str(api.container.auth.issue_token(cid, secret, None)["access_token"])


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """A demo shop of its own (deletion changes it), with Jane's open order closed."""
    d = tmp_path / "demo"
    build_demo(d, customers=300)
    return d


def close_janes_orders(shop: Path) -> None:
    with sqlite3.connect(shop / "shop.sqlite") as db:
        db.execute("UPDATE orders SET status = 'delivered' WHERE customer_id = 1 AND status = 'shipped'")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(SystemClock().now())


@pytest.fixture
def api(tmp_path: Path, shop: Path, clock: FrozenClock) -> Iterator[Api]:
    with running_api(settings_for(tmp_path, shop), clock=clock) as a:
        yield a


@pytest.mark.parametrize(
    ("extra", "rule"),
    [
        (", holdingPeriod: 200", "holdingPeriod must be less than or equal to 180"),
        (", holdingPeriod: 181", "holdingPeriod must be less than or equal to 180"),
        (", holdingPeriod: -1", "holdingPeriod must be greater than or equal to 0"),
        (', reason: "%s"' % ("x" * 1001), "reason may only be 1000 characters long"),
        (', clientToken: {token: "short"}', "clientToken/token must be at least 36 characters long"),
    ],
)
def test_invalid_input(api: Api, extra: str, rule: str) -> None:
    body = api.gql(start(JANE, extra)).json()
    assert_validation(body, f"Input request is not valid, the following issues were encountered: [/{M}/input/{rule}]")


def test_email_rules(api: Api) -> None:
    assert_validation(
        api.gql(f"mutation {{ {M}(input: {{dataSubject: {{type: SHOPPER}}}}) {{ taskId }} }}").json(),
        "The dataSubject must have an email specified to initiate a personalDataDeletionTask.",
        "EmailNotProvidedForPersonalDataDeletionTask",
    )
    body = api.gql(start("aemail.com")).json()
    assert body["errors"][0]["message"].startswith(
        f"Input request is not valid, the following issues were encountered: [/{M}/input/dataSubject/email must match"
    )


def test_default_holding_period_and_cancel(api: Api) -> None:
    tid = started(api, JANE, ', reason: "Customer asked by e-mail"')
    t = task(api, tid)
    assert (t["status"], t["holdingPeriod"], t["errors"]) == ("ON_HOLD", 10, [])
    assert t["dataSubject"] == {"type": "SHOPPER", "email": JANE}
    r = api.gql('mutation { cancelPersonalDataDeletionTask(taskId: "%s") { taskId } }' % tid).json()
    assert r == {"data": {"cancelPersonalDataDeletionTask": {"taskId": tid}}}
    t = task(api, tid)
    assert t["status"] == "FAILED"
    assert t["errors"][0]["code"] == "CANCELLED"
    again = api.gql('mutation { cancelPersonalDataDeletionTask(input: {taskId: "%s"}) { taskId } }' % tid).json()
    assert_validation(
        again,
        "The personalDataDeletionTask cannot be cancelled with a status of FAILED.",
        "CannotCancelPersonalDataDeletionTask",
    )


def test_cancel_unknown_and_the_guide_form(api: Api) -> None:
    body = api.gql(
        'mutation { cancelPersonalDataDeletionTask(input: {taskId: "%s"}) { taskId } }'
        % "3f1c2b4a-5d6e-4f70-8a9b-0c1d2e3f4a5b"
    ).json()
    assert body["data"] == {"cancelPersonalDataDeletionTask": None}
    assert body["errors"][0]["message"] == "Request references a resource which does not exist."
    assert body["errors"][0]["extensions"]["classification"]["type"] == "ResourceNotFoundError"
    tid = started(api, JANE)
    body = api.gql('mutation { cancelPersonalDataDeletionTask(input: {taskId: "%s"}) { taskId } }' % tid).json()
    assert body == {"data": {"cancelPersonalDataDeletionTask": {"taskId": tid}}}


def test_a_retrieval_id_is_not_a_deletion(api: Api) -> None:
    rid = api.start(JANE)
    body = api.gql(TASK % rid).json()
    assert body["errors"][0]["extensions"]["classification"]["type"] == "ResourceNotFoundError"


def test_hold_ends_then_blocked_by_an_open_order(api: Api, clock: FrozenClock) -> None:
    tid = started(api, JANE, ", holdingPeriod: 5")
    clock.advance(timedelta(days=4, hours=23))
    api.token = fresh_token(api)
    api.container.runner.notify(tid)
    time.sleep(0.5)
    assert task(api, tid)["status"] == "ON_HOLD"
    clock.advance(timedelta(hours=2))
    api.token = fresh_token(api)
    api.container.runner.notify(tid)
    t = wait(api, tid)
    assert t["status"] == "FAILED"
    assert t["errors"] == [{"code": "ORDERS_NOT_CLOSED", "message": "The shopper has one or more unclosed orders."}]
    cannot = api.gql('mutation { cancelPersonalDataDeletionTask(taskId: "%s") { taskId } }' % tid).json()
    assert cannot["errors"][0]["message"] == "The personalDataDeletionTask cannot be cancelled with a status of FAILED."


def _digest_without(db: Path, table: str, where: str) -> str:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(f"SELECT * FROM {table} WHERE NOT ({where}) ORDER BY 1").fetchall()
    return hashlib.sha256(repr(rows).encode()).hexdigest()


OTHERS = {  # (db, table, rows of Jane) — everyone else's rows must stay byte for byte
    ("shop", "customers", "id = 1"),
    ("shop", "orders", "customer_id = 1"),
    ("shop", "addresses", "customer_id = 1"),
    ("shop", "payments", "order_id IN (SELECT id FROM orders WHERE customer_id = 1)"),
    ("support", "tickets", "lower(trim(requester_email)) = 'jane.doe@example.com'"),
}


def test_erasure_in_the_sources(api: Api, shop: Path) -> None:
    close_janes_orders(shop)
    before = {(d, t): _digest_without(shop / f"{d}.sqlite", t, w) for d, t, w in OTHERS}
    with sqlite3.connect(shop / "support.sqlite") as db:
        ticket_ids = [
            r[0]
            for r in db.execute("SELECT id FROM tickets WHERE lower(trim(requester_email)) = 'jane.doe@example.com'")
        ]
    tid = started(api, JANE, ", holdingPeriod: 0")
    t = wait(api, tid)
    assert (t["status"], t["errors"]) == ("COMPLETED", []), t
    with sqlite3.connect(shop / "shop.sqlite") as db:
        email, first, last, phone, birth = db.execute(
            "SELECT email, first_name, last_name, phone, birth_date FROM customers WHERE id = 1"
        ).fetchone()
        assert email.startswith("erased-") and JANE not in email
        assert (first, last, phone, birth) == ("Erased", "Erased", None, None)
        for table in ("addresses", "product_reviews", "login_events"):
            assert db.execute(f"SELECT count(*) FROM {table} WHERE customer_id = 1").fetchone()[0] == 0
        orders = db.execute("SELECT count(*), count(shipping_address_id) FROM orders WHERE customer_id = 1").fetchone()
        assert orders == (4, 0)  # kept for tax law, unlinked from the deleted address
        cards = db.execute(
            "SELECT count(*), count(card_brand), count(card_last4) FROM payments WHERE order_id IN "
            "(SELECT id FROM orders WHERE customer_id = 1)"
        ).fetchone()
        assert cards == (4, 0, 0)
        assert db.execute("SELECT count(*) FROM marketing_consents WHERE customer_id = 1").fetchone()[0] == 2
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    with sqlite3.connect(shop / "support.sqlite") as db:
        marks = ",".join("?" * len(ticket_ids))
        assert db.execute(f"SELECT count(*) FROM tickets WHERE id IN ({marks})", ticket_ids).fetchone()[0] == 0
        assert db.execute(f"SELECT count(*) FROM messages WHERE ticket_id IN ({marks})", ticket_ids).fetchone()[0] == 0
    after = {(d, t): _digest_without(shop / f"{d}.sqlite", t, w) for d, t, w in OTHERS}
    assert after == before
    with api.container.db.session(write=False) as s:
        from dsar.tasks.models import PrivacyTask

        summary = s.get(PrivacyTask, tid).summary  # type: ignore[union-attr]
    assert summary is not None
    assert summary["erased"]["shop.addresses"] == {"action": "delete", "rows": 2, "fields": [], "reason": ""}
    # the auditor's view of the same record, from the CLI
    cfg = api.container.settings
    env = {
        "DSAR_DATA_DIR": str(cfg.data_dir),
        "DSAR_SECRET_KEY": cfg.secret_key or "",
        "DSAR_DATABASE_URL": cfg.state_url(),
    }
    shown = CliRunner().invoke(cli, ["tasks", "show", tid, "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    doc = json.loads(shown.output)
    assert (doc["taskId"], doc["kind"], doc["status"], doc["subject"]) == (
        tid,
        "deletion",
        "COMPLETED",
        "j***@example.com",
    )
    assert doc["erasure"] == summary["erased"] and JANE not in shown.output
    text = CliRunner().invoke(cli, ["tasks", "show", tid], env=env).output
    assert "  shop.addresses: delete rows=2" in text and "erasure:" in text
    listed = CliRunner().invoke(cli, ["tasks", "list", "--kind", "deletion", "--status", "completed"], env=env).output
    assert tid in listed and JANE not in listed
    assert CliRunner().invoke(cli, ["tasks", "show", "nope"], env=env).exit_code == 1
    assert summary["erased"]["shop.orders"]["action"] == "mask"
    # Afterwards nobody can find her: a retrieval and a second deletion end DATA_SUBJECT_NOT_FOUND.
    r = api.wait(api.start(JANE))
    assert r["status"] == "FAILED" and r["errors"][0]["code"] == "DATA_SUBJECT_NOT_FOUND"
    second = wait(api, started(api, JANE, ", holdingPeriod: 0"))
    assert second["errors"][0]["code"] == "DATA_SUBJECT_NOT_FOUND"


@pytest.mark.local_stack
def test_hold_survives_a_restart_and_runs_once(tmp_path: Path, shop: Path, clock: FrozenClock) -> None:
    close_janes_orders(shop)
    settings = settings_for(tmp_path, shop)
    with running_api(settings, clock=clock) as a:
        tid = started(a, JANE, ", holdingPeriod: 2")
    clock.advance(timedelta(days=2, seconds=1))
    with running_api(settings, clock=clock) as b:
        t = wait(b, tid)
        assert t["status"] == "COMPLETED"
        with b.container.db.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT attempts FROM privacy_tasks WHERE id = ?", (tid,)).scalar() == 1


def test_a_failing_statement_rolls_the_source_back(tmp_path: Path, shop: Path, clock: FrozenClock) -> None:
    close_janes_orders(shop)
    dm = (shop / "datamap.yaml").read_text()
    # orders.customer_id is NOT NULL: nulling it fails inside the shop transaction, after customers was masked.
    broken = dm.replace(
        '      shipping_address_id: {categories: [user.contact.address], erase: "null",',
        '      customer_id: {erase: "null"}\n      shipping_address_id: {categories: '
        '[user.contact.address], erase: "null",',
    )
    assert broken != dm
    (shop / "broken.yaml").write_text(broken)
    before = hashlib.sha256((shop / "shop.sqlite").read_bytes()).hexdigest()
    settings = settings_for(
        tmp_path, shop, datamap=shop / "broken.yaml", engine={"retry_backoff_seconds": 0.01, "source_retries": 1}
    )
    with running_api(settings, clock=clock) as a:
        t = wait(a, started(a, JANE, ", holdingPeriod: 0"))
    assert t["status"] == "FAILED" and t["errors"][0]["code"] == "SOURCE_UNAVAILABLE"
    assert "'shop'" in t["errors"][0]["message"] and JANE not in t["errors"][0]["message"]
    with sqlite3.connect(shop / "shop.sqlite") as db:
        assert db.execute("SELECT email FROM customers WHERE id = 1").fetchone()[0] == JANE
    assert hashlib.sha256((shop / "shop.sqlite").read_bytes()).hexdigest() == before


def test_preview_changes_nothing(shop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSAR_DATA_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DSAR_DATAMAP", str(shop / "datamap.yaml"))
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in shop.glob("*.sqlite")}
    r = CliRunner().invoke(cli, ["tasks", "preview-deletion", "--email", JANE])
    assert r.exit_code == 0, r.output
    assert "BLOCKED ORDERS_NOT_CLOSED" in r.output
    assert "shop.addresses: 2 row(s): delete rows" in r.output
    assert "DELETE FROM messages WHERE messages.id IN" in r.output
    assert "Nothing was changed." in r.output
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in shop.glob("*.sqlite")} == before


@pytest.mark.parametrize("backend", ["postgres", "mysql"])
def test_erasure_on_server_databases(
    backend: str, request: pytest.FixtureRequest, shop: Path, tmp_path: Path, clock: FrozenClock
) -> None:
    from sqlalchemy import create_engine, text

    from dsar.demo.load import copy_sources, datamap_for

    url = request.getfixturevalue("pg_url" if backend == "postgres" else "mysql_url")
    copy_sources(shop, {"shop": url, "support": url})
    (tmp_path / "dm.yaml").write_text(datamap_for(shop, {"shop": url, "support": url}))
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE orders SET status = 'delivered' WHERE customer_id = 1"))
        others = conn.execute(text("SELECT count(*) FROM addresses WHERE customer_id <> 1")).scalar()
    try:
        with running_api(settings_for(tmp_path, shop, datamap=tmp_path / "dm.yaml"), clock=clock) as a:
            t = wait(a, started(a, JANE, ", holdingPeriod: 0"))
            assert t["status"] == "COMPLETED", t
            r = a.wait(a.start(JANE))
            assert r["errors"][0]["code"] == "DATA_SUBJECT_NOT_FOUND"
        with engine.connect() as conn:
            assert conn.execute(text("SELECT first_name FROM customers WHERE id = 1")).scalar() == "Erased"
            assert conn.execute(text("SELECT count(*) FROM addresses WHERE customer_id = 1")).scalar() == 0
            assert conn.execute(text("SELECT count(*) FROM addresses WHERE customer_id <> 1")).scalar() == others
            assert conn.execute(text("SELECT count(*) FROM orders WHERE customer_id = 1")).scalar() == 4
    finally:
        engine.dispose()


def test_a_deletion_interrupted_between_sources_finishes_the_rest(
    api: Api, shop: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dsar.tasks.jobs as jobs

    close_janes_orders(shop)
    real = jobs.apply_erasure
    crashes = []

    def crash_after_first_source(ep: Any, sources: Any, opts: Any, on_done: Any) -> Any:
        def once(source: str, done: Any) -> None:
            on_done(source, done)
            if not crashes:
                crashes.append(source)
                raise RuntimeError("worker lost after the first source committed")

        return real(ep, sources, opts, once)

    monkeypatch.setattr(jobs, "apply_erasure", crash_after_first_source)
    tid = started(api, JANE, ", holdingPeriod: 0")
    deadline = time.monotonic() + 10
    while not crashes:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)
    assert task(api, tid)["status"] == "IN_PROGRESS"
    clock.advance(timedelta(seconds=6))  # the retry delay
    api.token = fresh_token(api)
    api.container.runner.notify(tid)
    t = wait(api, tid)
    assert t["status"] == "COMPLETED"
    with api.container.db.session(write=False) as s:
        from dsar.tasks.models import PrivacyTask

        row = s.get(PrivacyTask, tid)
        assert row is not None and row.attempts == 2
        erased = (row.summary or {})["erased"]
    assert {"shop.customers", "support.tickets"} <= set(erased)  # both sources, over two attempts
    assert crashes == ["shop"]


def test_a_deletion_also_deletes_the_subjects_earlier_archives(api: Api, shop: Path) -> None:
    close_janes_orders(shop)
    retrieval = api.wait(api.start(JANE))
    assert retrieval["status"] == "COMPLETED" and retrieval["dataRetrievalLink"]
    key = f"privacyRequest/{retrieval['taskId']}/result/data_retrieval.zip"
    assert api.container.storage.exists(key)
    other = api.wait(api.start("jane.doe@example.org"))  # a look-alike keeps hers
    t = wait(api, started(api, JANE, ", holdingPeriod: 0"))
    assert t["status"] == "COMPLETED"
    assert not api.container.storage.exists(key)
    assert api.task(retrieval["taskId"])["dataRetrievalLink"] is None
    assert api.task(other["taskId"])["dataRetrievalLink"]
    with api.container.db.session(write=False) as s:
        from dsar.tasks.models import PrivacyTask

        row = s.get(PrivacyTask, t["taskId"])
        assert row is not None and (row.summary or {})["erased"]["dsar.archives"]["rows"] == 1
