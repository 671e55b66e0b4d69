"""The console's coverage page and webhook endpoints over HTTP: the coverage check runs on demand (a POST with
CSRF) against the configured sources and lists what the CLI lists; integrations show webhook endpoints."""

from __future__ import annotations

import re
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dsar.api.app import create_app
from dsar.bootstrap import Container
from dsar.config import Settings
from dsar.discovery.coverage import coverage
from dsar.kit.clock import FrozenClock
from tests.web.console_helpers import START, csrf_of, make_operator, sign_in


@pytest.fixture
def world(demo_dir: Path, tmp_path: Path) -> Iterator[Container]:
    for name in ("shop.sqlite", "support.sqlite", "datamap.yaml"):
        shutil.copy(demo_dir / name, tmp_path / name)
    with closing(sqlite3.connect(tmp_path / "shop.sqlite")) as conn:  # e-mails the data map does not reach
        conn.execute("CREATE TABLE newsletter_signups (id INTEGER PRIMARY KEY, contact TEXT, signed_up TEXT)")
        conn.executemany(
            "INSERT INTO newsletter_signups (contact, signed_up) VALUES (?, ?)",
            [(f"reader{i}@example.org", "2026-01-01") for i in range(40)],
        )
        conn.commit()
    settings = Settings(
        data_dir=tmp_path / "state",
        secret_key="k" * 32,
        run_workers=False,
        datamap=tmp_path / "datamap.yaml",
        portability={"allow_private_notify_urls": True},
    )
    c = Container(settings, clock=FrozenClock(START), with_workers=False)
    with TestClient(create_app(c)):  # runs the migrations
        pass
    for email, role in [("admin@example.com", "admin"), ("viewer@example.com", "viewer")]:
        make_operator(c, email, role)
    make_operator(c, "respondent@example.com", "respondent")
    yield c
    c.close()


def _signed_in(c: Container, email: str) -> TestClient:
    client = TestClient(create_app(c, migrate=False))
    assert sign_in(client, email).status_code == 303
    return client


def test_the_coverage_page_runs_the_check_on_demand_and_lists_the_uncovered_e_mails(world: Container) -> None:
    c = world
    client = _signed_in(c, "viewer@example.com")
    assert 'id="coverage-link"' in client.get("/console/datamap").text
    page = client.get("/console/datamap/coverage")
    assert page.status_code == 200 and 'id="run-coverage"' in page.text
    assert "newsletter_signups" not in page.text  # the page alone reads no source
    assert client.post("/console/datamap/coverage", data={"csrf_token": "forged"}).status_code == 403
    r = client.post("/console/datamap/coverage", data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 200, r.text
    assert 'data-gap="shop.newsletter_signups.contact"' in r.text and "user.contact.email" in r.text
    assert "is in no collection of the data map" in r.text
    assert "reader0@example.org" not in r.text  # evidence counts values, never quotes them
    cli = coverage(c.datamap)  # the same service function: the same rows
    assert r.text.count("data-gap=") == len(cli.uncovered) == 1
    assert f"{cli.tables} tables read; {cli.covered} personal column(s) covered, 1 not covered" in r.text


def test_a_role_without_coverage_gets_403(world: Container) -> None:
    client = _signed_in(world, "respondent@example.com")
    page = client.get("/console/datamap")
    assert page.status_code == 200 and 'id="coverage-link"' not in page.text
    assert client.get("/console/datamap/coverage").status_code == 403
    r = client.post("/console/datamap/coverage", data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 403 and "newsletter_signups" not in r.text
    anonymous = TestClient(create_app(world, migrate=False))
    assert anonymous.get("/console/datamap/coverage", follow_redirects=False).status_code == 303


def test_a_missing_data_map_is_a_clear_error(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="k" * 32, run_workers=False)
    c = Container(settings, clock=FrozenClock(START), with_workers=False)
    with TestClient(create_app(c)):
        pass
    make_operator(c, "admin@example.com", "admin")
    try:
        client = _signed_in(c, "admin@example.com")
        page = client.get("/console/datamap/coverage")
        r = client.post("/console/datamap/coverage", data={"csrf_token": csrf_of(page.text)})
        assert r.status_code == 503 and "DSAR_DATAMAP" in r.text
    finally:
        c.close()


def test_integrations_list_the_webhook_endpoints_for_admins_only(world: Container) -> None:
    c = world
    admin = _signed_in(c, "admin@example.com")
    assert "No webhook endpoint yet." in admin.get("/console/integrations").text
    quiet = c.webhooks.create("http://127.0.0.1:9/quiet", ["PRIVACY_PREFERENCE_CHANGED"])
    busy = c.webhooks.create(
        "http://user:pw@127.0.0.1:9/hook?token=s3cret",
        ["PERSONAL_DATA_RETRIEVAL_TASK_COMPLETED", "PERSONAL_DATA_DELETION_TASK_COMPLETED"],
        tenant="acme",
    )
    with c.db.session() as s:
        c.notifications.publish(s, busy.id, "subject", {"n": 1})
    page = admin.get("/console/integrations").text
    rows = dict(re.findall(r'<tr data-endpoint="([^"]+)">(.*?)</tr>', page, re.S))
    assert set(rows) == {quiet.id, busy.id}
    assert "http://127.0.0.1:9/quiet" in rows[quiet.id] and "no event yet" in rows[quiet.id]
    assert "PRIVACY_PREFERENCE_CHANGED" in rows[quiet.id] and "Jan 5, 2026" in rows[quiet.id]
    assert "http://127.0.0.1:9/hook?…" in rows[busy.id] and "acme" in rows[busy.id]
    assert "PERSONAL_DATA_DELETION_TASK_COMPLETED, PERSONAL_DATA_RETRIEVAL_TASK_COMPLETED" in rows[busy.id]
    assert "PENDING" in rows[busy.id]
    assert "s3cret" not in page and "pw@" not in page and busy.secret not in page
    assert _signed_in(c, "viewer@example.com").get("/console/integrations").status_code == 403
