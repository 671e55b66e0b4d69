"""`dsar requests ...` and `dsar report ...` through the real CLI on a SQLite state directory."""

from __future__ import annotations

import csv
import getpass
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dsar.bootstrap import Container
from dsar.cli.app import app
from dsar.config import Settings
from dsar.db.migrate import upgrade


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {"DSAR_DATA_DIR": str(tmp_path / "state"), "DSAR_SECRET_KEY": "k" * 40, "DSAR_REQUESTS__TIMEZONE": "UTC"}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


def _open(n: int) -> list[str]:
    c = Container(Settings(), with_workers=False)
    try:
        upgrade(c.db.engine)
        return [
            c.requests.open(
                tenant="default",
                type="access",
                channel="bwp",
                email=f"person{i}@example.com",
                actor="client:x",
                jurisdiction="US-CA",
            )
            for i in range(n)
        ]
    finally:
        c.close()


def out_line(request_id: str) -> str:
    return run("requests", "list")[1].split(request_id, 1)[1].splitlines()[0]


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_list_show_decide_extend_and_report(env: dict[str, str]) -> None:
    ids = _open(3)
    code, out = run("requests", "list")
    assert code == 0 and all(i in out for i in ids) and "p***@example.com" in out and "person0" not in out
    code, out = run("requests", "list", "--json", "--first", "2")
    doc = json.loads(out)
    assert code == 0 and len(doc["items"]) == 2 and doc["hasNextPage"]
    code, out = run("requests", "list", "--json", "--after", doc["endCursor"])
    assert [v["id"] for v in json.loads(out)["items"]] == [ids[0]]

    code, out = run("requests", "approve", ids[0], "--as", "alice")
    assert code == 0 and "in_progress" in out
    code, out = run("requests", "deny", ids[1], "--basis", "identity_not_verified", "--note", "no reply")
    assert code == 0 and "denied" in out
    code, out = run("requests", "extend", ids[2], "--reason", "three systems to search")
    assert (code == 0 and "2026" not in out) or "due" in out
    code, out = run("requests", "show", ids[2], "--json")
    shown = json.loads(out)
    assert shown["extension_reason"] == "three systems to search" and shown["timeline"][-1]["kind"] == "extended"
    assert shown["due_on"] == shown["extendable_until"] and shown["due_on"] in out_line(ids[2])
    code, out = run("requests", "show", ids[0])
    assert code == 0 and "cli:alice" in out and "approved" in out

    code, out = run("report", "metrics", "--from", "2000-01-01", "--to", "2100-01-01", "--json")
    m = json.loads(out)["by_type"]["access"]
    assert (m["received"], m["denied"], m["open"]) == (3, 1, 2)
    assert m["denied_by_basis"] == {"identity_not_verified": 1}
    code, out = run("report", "record", "--from", "2000-01-01", "--to", "2100-01-01")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and {r["request_id"] for r in rows} == set(ids) and all("person" not in r["subject"] for r in rows)
    code, out = run("report", "record", "--from", "2000-01-01", "--to", "2100-01-01", "--format", "json")
    assert len(out.splitlines()) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("requests", "show", "00000000-0000-4000-8000-000000000000"), "no privacy request"),
        (("requests", "deny", "00000000-0000-4000-8000-000000000000", "--basis", "x"), "unknown basis"),
        (("report", "metrics", "--from", "yesterday", "--to", "2026-01-01"), "is not a date"),
        (("report", "metrics", "--from", "2026-02-01", "--to", "2026-01-01"), "end date must be after"),
        (("report", "record", "--from", "2026-01-01", "--to", "2026-02-01", "--format", "xml"), "csv or json"),
    ],
)
def test_errors_are_one_line_without_a_traceback(env: dict[str, str], args: tuple[str, ...], message: str) -> None:
    _open(1)
    code, out = run(*args)
    assert code != 0 and message in out and "Traceback" not in out and len(out.strip().splitlines()) <= 2


def test_the_periodic_job_purges_records_past_retention(env: dict[str, str]) -> None:
    from datetime import UTC, datetime, timedelta

    from dsar.kit.clock import FrozenClock

    clock = FrozenClock(datetime(2026, 1, 15, tzinfo=UTC))
    c = Container(Settings(), clock=clock, with_workers=False)
    try:
        upgrade(c.db.engine)
        rid = c.requests.open(tenant="default", type="access", channel="cli", email="a@example.com", actor="t")
        kept = c.requests.open(tenant="default", type="access", channel="cli", email="b@example.com", actor="t")
        c.requests.deny("default", rid, actor="t", basis="excessive")
        clock.advance(timedelta(days=2 * 366))
        assert "requests-purge" in [s.name for s in c.periodic.schedules]
        assert c.periodic.run_due("test-owner")
        assert [v.id for v in c.requests.page("default").items] == [kept]  # an open request is never purged
    finally:
        c.close()


def test_preferences_and_categories_from_the_shell(
    env: dict[str, str], demo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DSAR_DATAMAP", str(demo_dir / "datamap.yaml"))
    _open(0)  # migrate
    code, out = run("requests", "preference", "jane@example.com", "opt_out_sale", "--jurisdiction", "US-CA")
    assert code == 0 and "opt_out_sale recorded" in out and "jane" not in out
    code, out = run("requests", "preference", "jane@example.com", "objection", "--scope", "direct marketing")
    code, out = run("requests", "preferences", "JANE@example.com", "--json")
    doc = json.loads(out)
    assert [(p["preference"], p["active"]) for p in doc["preferences"]] == [("objection", True), ("opt_out_sale", True)]
    code, out = run("requests", "categories", "jane@example.com", "--json")
    assert code == 0 and "user.contact.email" in json.loads(out)["categories"]
    code, out = run("requests", "list", "--type", "opt_out", "--json")
    assert [(v["status"], v["rule"]) for v in json.loads(out)["items"]] == [("completed", "ccpa")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("requests", "preference", "jane@example.com", "sell"), "unknown preference"),
        (("requests", "rectify", "jane@example.com", "--set", "nonsense"), "--set takes"),
        (("requests", "rectify", "jane@example.com", "--set", "shop.customers.email=x"), "not a rectifiable field"),
        (("requests", "rectify", "jane@example.com", "--set", "shop.customers.birth_date=soon"), "expected a date"),
        (("requests", "categories", "jane@example.com", "--jurisdiction", "Mars!"), "jurisdiction"),
    ],
)
def test_bad_rights_input_is_one_line(
    env: dict[str, str], demo_dir: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], message: str
) -> None:
    monkeypatch.setenv("DSAR_DATAMAP", str(demo_dir / "datamap.yaml"))
    _open(0)
    code, out = run(*args)
    assert code != 0 and message in out and "Traceback" not in out and len(out.strip().splitlines()) <= 2


def test_the_periodic_job_sends_reminders(env: dict[str, str]) -> None:
    from datetime import UTC, datetime, timedelta

    from dsar.kit.clock import FrozenClock

    clock = FrozenClock(datetime(2026, 1, 15, tzinfo=UTC))
    c = Container(Settings(), clock=clock, with_workers=False)
    try:
        upgrade(c.db.engine)
        rid = c.requests.open(tenant="default", type="access", channel="cli", email="a@example.com", actor="t")
        due = c.requests.get("default", rid).due_on
        clock.advance(timedelta(days=(due - clock.now().date()).days - 7))
        assert "requests-reminders" in [s.name for s in c.periodic.schedules]
        assert c.periodic.run_due("test-owner")
        assert [e.kind for e in c.requests.get("default", rid).timeline][-1] == "reminder"
    finally:
        c.close()


def _audit() -> list[tuple[str, str, str | None, dict | None]]:
    c = Container(Settings(), with_workers=False)
    try:
        return [(e.actor, e.action, e.target, e.detail) for e in reversed(c.operators.audit_entries(limit=50))]
    finally:
        c.close()


def test_decisions_clients_and_apps_made_on_the_cli_are_in_the_operators_audit_log(env: dict[str, str]) -> None:
    ids = _open(3)
    assert _audit() == []
    assert run("requests", "approve", ids[0], "--as", "alice")[0] == 0
    assert (
        run("requests", "deny", ids[1], "--basis", "identity_not_verified", "--note", "no reply from Jane Doe")[0] == 0
    )
    assert run("requests", "extend", ids[2], "--reason", "Jane's three systems")[0] == 0
    assert run("requests", "assign", ids[2], "--to", "bob@corp.example", "--as", "alice")[0] == 0
    assert run("requests", "comment", ids[2], "--text", "called Jane Doe", "--as", "alice")[0] == 0
    code, out = run("requests", "complete", ids[0], "--note", "letter sent to Jane Doe", "--as", "alice")
    assert code == 0 and "completed" in out
    code, out = run("clients", "create", "--name", "crm", "--scope", "privacy:manage", "--json")
    client_id = json.loads(out)["client_id"]
    code, out = run("apps", "create", "--name", "Acme", "--notify-url", "https://93.184.216.34/n", "--json")
    assert code == 0, out
    app_id = json.loads(out)["app_id"]
    assert run("apps", "revoke", app_id, "--user", "jane.doe@example.com")[0] == 0
    assert run("apps", "revoke", app_id)[0] == 0
    shell = f"cli:{getpass.getuser()}"  # without --as: the shell user, as in the timeline
    assert shell in run("requests", "show", ids[1])[1]
    assert _audit() == [
        ("cli:alice", "approve", ids[0], None),
        (shell, "deny", ids[1], {"basis": "identity_not_verified"}),
        (shell, "extend", ids[2], None),
        ("cli:alice", "assign", ids[2], {"assignee": "bob@corp.example"}),
        ("cli:alice", "comment", ids[2], None),
        ("cli:alice", "complete", ids[0], None),
        ("cli", "client_created", client_id, {"scopes": ["privacy:manage"]}),
        ("cli", "app_created", app_id, None),
        ("cli", "app_revoked", app_id, {"canceled": 0, "every_customer": False}),
        ("cli", "app_revoked", app_id, {"canceled": 0, "every_customer": True}),
    ]
    assert "Jane" not in json.dumps(_audit()) and "jane" not in json.dumps(_audit())  # no personal data, no notes
    # A refused decision changes nothing and records nothing.
    code, out = run("requests", "complete", ids[2], "--note", " ")
    assert code == 1 and "needs a note" in out and len(_audit()) == 10
    code, out = run("requests", "complete", ids[1], "--note", "done")
    assert code == 1 and "denied cannot be completed" in out and len(_audit()) == 10
    # API clients: listed without secrets, rotated (the new secret works, the old one not), revoked.
    code, out = run("clients", "list", "--json")
    [listed] = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and listed["client_id"] == client_id and listed["revoked_at"] is None and "secret" not in out
    code, out = run("clients", "rotate", client_id)
    assert code == 0 and "client_secret: " in out
    code, out = run("clients", "revoke", client_id)
    assert code == 0 and json.loads(run("clients", "list", "--json")[1])["revoked_at"] is not None
    code, out = run("clients", "rotate", "no-such-client")
    assert code == 1 and "no such API client" in out and "Traceback" not in out
    assert [a[1] for a in _audit()[-2:]] == ["client_rotated", "client_revoked"]
    c = Container(Settings(), with_workers=False)
    try:
        assert c.operators.verify_audit().ok
    finally:
        c.close()
