"""The console over HTTP (the ASGI app): roles and CSRF enforced on the server, decisions, exports, TOTP."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from dsar.api.app import create_app
from dsar.api.web import HEADERS, Csrf
from dsar.bootstrap import Container
from dsar.config import Settings
from dsar.kit.clock import FrozenClock
from dsar.operators import totp
from tests.web.console_helpers import PASSWORD, START, csrf_of, make_operator, seed, sign_in, start_work


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Container, FrozenClock, dict[str, str]]]:
    clock = FrozenClock(START)
    portability = {"allow_private_notify_urls": True}  # the apps' notification URLs on loopback
    settings = Settings(data_dir=tmp_path, secret_key="k" * 32, run_workers=False, portability=portability)
    c = Container(settings, clock=clock, with_workers=False)
    with TestClient(create_app(c)):  # runs the migrations
        pass
    for email, role in [
        ("admin@example.com", "admin"),
        ("approver@example.com", "approver"),
        ("respondent@example.com", "respondent"),
        ("viewer@example.com", "viewer"),
    ]:
        make_operator(c, email, role)
    ids = seed(c, clock)
    yield c, clock, ids
    c.close()


def _client(c: Container) -> TestClient:
    return TestClient(create_app(c, migrate=False))


def _signed_in(c: Container, email: str) -> TestClient:
    client = _client(c)
    r = sign_in(client, email)
    assert r.status_code == 303 and r.headers["location"] == "/console/requests", r.text
    return client


def _ids(html: str) -> list[str]:
    return re.findall(r'data-request="([^"]+)"', html)


def test_pages_need_a_session_and_carry_the_strict_headers(world: Any) -> None:
    c, _clock, _seeded = world
    client = _client(c)
    r = client.get("/console/requests", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/sign-in"
    page = client.get("/console/sign-in")
    for name, value in HEADERS.items():
        assert page.headers[name] == value
    assert page.headers["cache-control"] == "no-store"
    assert sign_in(client, "admin@example.com", "wrong password!").status_code == 401
    r = sign_in(client, "admin@example.com")
    cookie = r.headers["set-cookie"]
    assert (
        "dsar_console=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    )


def test_filters_find_the_overdue_requests_and_search_uses_the_email_hash(world: Any) -> None:
    c, _clock, ids = world
    client = _signed_in(c, "viewer@example.com")
    assert set(_ids(client.get("/console/requests", params={"overdue": "1"}).text)) == {
        ids["overdue_access"],
        ids["overdue_deletion"],
    }
    page = client.get("/console/requests").text
    assert _ids(page)[:2] == [ids["overdue_access"], ids["overdue_deletion"]] or _ids(page)[:2] == [
        ids["overdue_deletion"],
        ids["overdue_access"],
    ]  # due date order: the two overdue first
    assert _ids(client.get("/console/requests", params={"q": "Olga@Example.com"}).text) == [ids["overdue_access"]]
    assert _ids(client.get("/console/requests", params={"q": ids["fresh_access"]}).text) == [ids["fresh_access"]]
    assert _ids(client.get("/console/requests", params={"type": "portability"}).text) == [ids["fresh_portability"]]
    assert _ids(client.get("/console/requests", params={"jurisdiction": "eu"}).text) == [ids["fresh_access"]]
    assert _ids(client.get("/console/requests", params={"channel": "odr"}).text) == [ids["overdue_deletion"]]
    assert len(_ids(client.get("/console/requests", params={"due_within": "40"}).text)) == 4
    dash = client.get("/console/dashboard").text
    overdue = re.search(r'id="stat-overdue"><span class="value">(\d+)</span>', dash)
    assert overdue and overdue.group(1) == "2" and 'id="chart-weeks"' in dash
    bad = client.get("/console/requests", params={"q": "olga"})
    assert bad.status_code == 400 and "full e-mail" in bad.text
    for short in ("2098c45", "zz98c453"):  # fewer than 8 hex digits, or not hex: refused, as before
        assert client.get("/console/requests", params={"q": short}).status_code == 400
    assert "olga@example.com" not in page  # masked in lists


def test_the_default_queue_shows_open_cases_soonest_due_first_and_any_shows_every_one(world: Any) -> None:
    c, _clock, ids = world
    c.requests.cancel("default", ids["overdue_access"], actor="test")  # due first of all, but closed
    client = _signed_in(c, "viewer@example.com")
    page = client.get("/console/requests").text
    assert ids["overdue_access"] not in _ids(page) and _ids(page)[0] == ids["overdue_deletion"]
    assert re.search(r'<option value="open" selected>', page)
    every = client.get("/console/requests", params={"status": "all"}).text
    assert ids["overdue_access"] in _ids(every)[:2] and len(_ids(every)) == 4  # due with overdue_deletion
    assert re.search(r'<option value="all" selected>', every)
    assert _ids(client.get("/console/requests", params={"status": "canceled"}).text) == [ids["overdue_access"]]


def test_an_approver_approves_and_denies_and_the_audit_log_has_both(world: Any) -> None:
    c, _clock, ids = world
    client = _signed_in(c, "approver@example.com")
    rid = ids["overdue_access"]
    token = csrf_of(client.get(f"/console/requests/{rid}").text)
    r = client.post(f"/console/requests/{rid}/approve", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    assert c.requests.get("default", rid).decision == "approved"
    other = ids["fresh_access"]
    form = {"csrf_token": token, "basis": "legal_exemption", "law": ""}
    r = client.post(f"/console/requests/{other}/deny", data=form)
    assert r.status_code == 400 and "must name the law" in r.text
    form["law"] = "GDPR Art. 23(1)(e)"
    assert client.post(f"/console/requests/{other}/deny", data=form, follow_redirects=False).status_code == 303
    denied = c.requests.get("default", other)
    assert (denied.status, denied.decision_basis, denied.decided_by) == (
        "denied",
        "legal_exemption",
        "approver@example.com",
    )
    actions = [(e.action, e.target) for e in c.operators.audit_entries(limit=10)]
    assert ("approve", rid) in actions and ("deny", other) in actions
    assert c.operators.verify_audit().ok


def test_a_viewers_approve_posted_by_hand_is_refused_403(world: Any) -> None:
    c, _clock, ids = world
    client = _signed_in(c, "viewer@example.com")
    rid = ids["overdue_access"]
    page = client.get(f"/console/requests/{rid}").text
    for action in ("approve", "deny", "extend", "assign", "comment", "complete"):  # hidden from the viewer ...
        assert f'/requests/{rid}/{action}"' not in page and f'id="{action}"' not in page, action
    assert 'id="no-actions"' in page
    r = client.post(f"/console/requests/{rid}/approve", data={"csrf_token": csrf_of(page)})
    assert r.status_code == 403 and "Not allowed" in r.text
    assert c.requests.get("default", rid).status == "received"
    assert client.get("/console/operators").status_code == 403
    assert "DSAR_DATAMAP" in client.get("/console/datamap").text  # readable by all; this app has no data map
    assert client.get("/console/audit").status_code == 403
    assert client.get("/console/requests.csv").status_code == 403


def test_a_respondent_comments_only_on_requests_assigned_to_them(world: Any) -> None:
    c, _clock, ids = world
    rid = ids["fresh_portability"]
    client = _signed_in(c, "respondent@example.com")
    token = csrf_of(client.get(f"/console/requests/{rid}").text)
    assert client.post(f"/console/requests/{rid}/comment", data={"csrf_token": token, "text": "hi"}).status_code == 403
    assert client.post(f"/console/requests/{rid}/reveal", data={"csrf_token": token}).status_code == 403
    c.requests.assign("default", rid, actor="test", assignee="respondent@example.com")
    r = client.post(
        f"/console/requests/{rid}/comment", data={"csrf_token": token, "text": "called"}, follow_redirects=False
    )
    assert r.status_code == 303
    assert client.post(f"/console/requests/{rid}/approve", data={"csrf_token": token}).status_code == 403


def test_a_forged_or_missing_csrf_token_is_refused(world: Any) -> None:
    c, _clock, ids = world
    client = _signed_in(c, "approver@example.com")
    rid = ids["overdue_access"]
    real = csrf_of(client.get(f"/console/requests/{rid}").text)
    for token in ("", "x.y", real.split(".")[0] + ".AAAA", real + "x"):
        r = client.post(f"/console/requests/{rid}/approve", data={"csrf_token": token})
        assert r.status_code == 403 and "expired" in r.text
    # a well-made token bound to no session (as the sign-in page's) does not pass for a signed-in operator
    nonce = real.split(".")[0]
    unbound = f"{nonce}.{Csrf(c.key('web-csrf'))._mac(nonce, '')}"
    assert client.post(f"/console/requests/{rid}/approve", data={"csrf_token": unbound}).status_code == 403
    assert c.requests.get("default", rid).status == "received"


def test_reveal_and_export_are_audited(world: Any) -> None:
    c, _clock, ids = world
    client = _signed_in(c, "approver@example.com")
    r = client.get("/console/requests.csv", params={"overdue": "1"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert (
        r.headers["cache-control"] == "no-store"
        and 'filename="privacy-requests.csv"' in r.headers["content-disposition"]
    )
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {row["request_id"] for row in rows} == {ids["overdue_access"], ids["overdue_deletion"]}
    assert all(row["overdue"] == "yes" for row in rows)
    rid = ids["overdue_access"]
    token = csrf_of(client.get(f"/console/requests/{rid}").text)
    page = client.post(f"/console/requests/{rid}/reveal", data={"csrf_token": token}).text
    assert 'id="identities"' in page  # this case has no task: no identity held in clear
    entries = c.operators.audit_entries(limit=5)
    assert [e.action for e in entries[:2]] == ["reveal", "export"]
    assert entries[1].detail == {"filters": {"overdue": "1"}, "search": False}


def test_totp_enrolment_then_sign_in_needs_the_code(world: Any) -> None:
    c, clock, _seeded = world
    client = _signed_in(c, "admin@example.com")
    page = client.get("/console/account").text
    secret = re.search(r'name="secret" value="([A-Z2-7]+)"', page)
    assert secret
    code = totp.code_at(secret.group(1), clock.now().timestamp())
    r = client.post(
        "/console/account/totp", data={"csrf_token": csrf_of(page), "secret": secret.group(1), "code": code}
    )
    assert r.status_code == 200 and "Second factor" in r.text
    fresh = _client(c)
    assert sign_in(fresh, "admin@example.com").status_code == 401
    clock.advance(timedelta(seconds=30))
    code = totp.code_at(secret.group(1), clock.now().timestamp())
    assert sign_in(fresh, "admin@example.com", code=code).status_code == 303


def test_a_new_secret_is_shown_once_by_any_replica_to_its_session_only(world: Any) -> None:
    c, clock, _seeded = world
    other = Container(c.settings, clock=clock, with_workers=False)  # another web process over the same state
    try:
        a = _signed_in(c, "admin@example.com")
        b = TestClient(create_app(other, migrate=False))
        form = {"csrf_token": csrf_of(a.get("/console/integrations").text), "name": "bo", "scope": ["privacy:manage"]}
        r = a.post("/console/integrations/clients", data=form, follow_redirects=False)
        sealed = r.cookies.get("dsar_console_flash")
        assert r.status_code == 303 and sealed
        b.cookies = a.cookies
        shown = b.get("/console/integrations")
        cid, secret = re.findall(r"<code>([^<]+)</code>", shown.text)[:2]
        assert cid in {cl.id for cl in c.auth.clients()} and secret not in sealed and cid not in sealed
        assert 'dsar_console_flash=""' in shown.headers["set-cookie"]  # deleted by the page that showed it
        intruder = _signed_in(c, "admin@example.com")  # another session given the sealed cookie
        intruder.cookies.set("dsar_console_flash", sealed, path="/console")
        assert 'id="new-secret"' not in intruder.get("/console/integrations").text
        r = a.post("/console/integrations/clients", data={**form, "name": "bo2"}, follow_redirects=False)
        clock.advance(timedelta(minutes=3))  # not shown in time: dropped
        assert 'id="new-secret"' not in a.get("/console/integrations").text
    finally:
        other.close()


def test_an_admin_creates_rotates_and_revokes_an_api_client_and_redelivers_a_message(world: Any) -> None:
    c, _clock, _seeded = world
    client = _signed_in(c, "admin@example.com")
    page = client.get("/console/integrations")
    assert page.status_code == 200
    form = {"csrf_token": csrf_of(page.text), "name": "back office", "scope": ["privacy:manage"], "tenant": ""}
    r = client.post("/console/integrations/clients", data=form, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/integrations"  # POST-redirect-GET
    assert "secret" not in r.headers["location"]
    made = client.get("/console/integrations").text
    cid, secret = re.findall(r"<code>([^<]+)</code>", made)[:2]
    assert 'id="new-secret"' in made and 'id="flash"' in made
    again = client.get("/console/integrations").text  # a reload: the secret is not shown again, no second client
    assert 'id="new-secret"' not in again and secret not in again
    assert [cl.name for cl in c.auth.clients()].count("back office") == 1

    def token(secret: str) -> int:
        data = {"grant_type": "client_credentials", "client_id": cid, "client_secret": secret}
        return client.post("/token", data=data).status_code

    assert token(secret) == 200
    csrf = {"csrf_token": form["csrf_token"]}
    asked = client.post(f"/console/integrations/clients/{cid}/rotate", data=csrf)  # first the confirmation page
    assert asked.status_code == 200 and 'id="confirm"' in asked.text and 'name="confirmed" value="yes"' in asked.text
    assert "back office" in asked.text and token(secret) == 200  # nothing changed yet
    rotated = client.post(f"/console/integrations/clients/{cid}/rotate", data={**csrf, "confirmed": "yes"}).text
    new_secret = re.findall(r"<code>([^<]+)</code>", rotated)[1]
    assert token(secret) == 401 and token(new_secret) == 200
    assert new_secret not in client.get("/console/integrations").text
    asked = client.post(f"/console/integrations/clients/{cid}/revoke", data=csrf)
    assert 'id="confirm"' in asked.text and token(new_secret) == 200
    assert client.post("/console/integrations/clients/nope/revoke", data=csrf).status_code == 404
    r = client.post(f"/console/integrations/clients/{cid}/revoke", data={**csrf, "confirmed": "yes"})
    assert r.status_code == 200 and token(new_secret) == 401 and "The API client is revoked." in r.text
    with c.db.session() as s:
        mid = c.notifications.publish(s, "app-1", "subject", {"hello": "world"})
    with c.db.engine.begin() as conn:  # its deliveries failed for good
        conn.execute(text("UPDATE notification_outbox SET status = 'DEAD', attempts = 8 WHERE id = :id"), {"id": mid})
    assert c.notifications.status(mid)[0] == "DEAD"
    r = client.post(f"/console/integrations/messages/{mid}/redeliver", data={"csrf_token": form["csrf_token"]})
    assert r.status_code == 200 and c.notifications.status(mid)[0] == "PENDING"
    app_form = {"csrf_token": form["csrf_token"], "name": "Acme export", "notify_url": "ftp://nope"}
    assert client.post("/console/integrations/apps", data=app_form).status_code == 400
    app_form["notify_url"] = "http://127.0.0.1:9/notify"
    assert client.post("/console/integrations/apps", data=app_form, follow_redirects=False).status_code == 303
    [app] = [a for a in c.portability.apps() if a.name == "Acme export"]
    page = client.get("/console/integrations").text
    assert f'data-app="{app.app_id}"' in page and "SubscriptionConfirmation" in page  # its first message, queued
    r = client.post(f"/console/integrations/apps/{app.app_id}/revoke", data=csrf)
    assert r.status_code == 200 and 'id="confirm"' in r.text and "Acme export" in r.text
    assert "app_revoked" not in [e.action for e in c.operators.audit_entries(limit=10)]
    r = client.post(f"/console/integrations/apps/{app.app_id}/revoke", data={**csrf, "confirmed": "yes"})
    assert r.status_code == 200 and "Every authorization of the app is revoked" in r.text
    actions = [e.action for e in c.operators.audit_entries(limit=10)]
    assert {"client_created", "client_rotated", "client_revoked", "webhook_redelivered"} <= set(actions)
    assert {"app_created", "app_revoked"} <= set(actions)
    viewer = _signed_in(c, "approver@example.com")
    assert viewer.get("/console/integrations").status_code == 403
    assert viewer.post(f"/console/integrations/clients/{cid}/rotate", data={"csrf_token": "x"}).status_code == 403


def _viewer(c: Container) -> Any:
    return next(o for o in c.operators.all() if o.email == "viewer@example.com")


def test_disabling_an_operator_asks_first_and_then_says_it_is_done(world: Any) -> None:
    c, _clock, _seeded = world
    client = _signed_in(c, "admin@example.com")
    page = client.get("/console/operators").text
    viewer = _viewer(c)
    csrf = {"csrf_token": csrf_of(page), "role": "viewer", "state": "disable"}
    asked = client.post(f"/console/operators/{viewer.id}", data=csrf)
    assert asked.status_code == 200 and 'id="confirm"' in asked.text and "viewer@example.com" in asked.text
    assert 'name="state" value="disable"' in asked.text and not _viewer(c).disabled
    done = client.post(f"/console/operators/{viewer.id}", data={**csrf, "confirmed": "yes"})
    assert done.status_code == 200 and "The operator is disabled." in done.text
    assert _viewer(c).disabled
    assert "The operator is disabled." not in client.get("/console/operators").text  # shown once


def test_the_reference_told_to_the_person_finds_the_request(world: Any) -> None:
    c, _clock, ids = world
    client = _signed_in(c, "viewer@example.com")
    rid = ids["fresh_portability"]
    queue = client.get("/console/requests").text
    assert rid[:8] in queue  # the queue shows the short reference ...
    for ref in (rid[:8].upper(), rid[:8], rid[:13].upper()):  # ... and the search takes it, in either case
        r = client.get("/console/requests", params={"q": ref})
        assert r.status_code == 200 and _ids(r.text) == [rid], ref


def test_a_deep_link_returns_to_its_page_after_signing_in_and_never_to_another_site(world: Any) -> None:
    c, _clock, ids = world
    rid = ids["fresh_access"]
    client = _client(c)
    r = client.get(f"/console/requests/{rid}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/console/sign-in?next=%2Fconsole%2Frequests%2F{rid}"
    page = client.get(r.headers["location"]).text
    assert f'name="next" value="/console/requests/{rid}"' in page
    data = {"csrf_token": csrf_of(page), "email": "viewer@example.com", "password": PASSWORD, "code": ""}
    r = client.post("/console/sign-in", data={**data, "next": f"/console/requests/{rid}"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/console/requests/{rid}"
    # Signed in already: the sign-in page sends on to a local `next` only.
    assert (
        client.get(f"/console/sign-in?next=/console/requests/{rid}", follow_redirects=False).headers["location"]
        == f"/console/requests/{rid}"
    )
    for evil in (
        "https://evil.example/console/requests",
        "//evil.example/console/",
        "/\\evil.example/console/",
        "/console/../../evil",
        "javascript:alert(1)",
        "/elsewhere",
        "/console\r\nLocation: https://evil.example",
    ):
        assert (
            client.get("/console/sign-in", params={"next": evil}, follow_redirects=False).headers["location"]
            == "/console/requests"
        ), evil
        fresh = _client(c)
        page = fresh.get("/console/sign-in", params={"next": evil}).text
        assert 'name="next"' not in page, evil
        form = {**data, "csrf_token": csrf_of(page), "next": evil}
        r = fresh.post("/console/sign-in", data=form, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/console/requests", evil


def test_an_operator_completes_a_request_with_no_engine_work_audited_and_in_the_timeline(world: Any) -> None:
    c, _clock, ids = world
    rid = c.requests.open(
        tenant="default", type="opt_out", channel="api", email="otto@example.com", actor="test", jurisdiction="US-CA"
    )
    client = _signed_in(c, "approver@example.com")
    page = client.get(f"/console/requests/{rid}").text
    assert "work starts once the request is approved" in page and 'id="complete"' not in page  # not approved yet
    token = csrf_of(page)
    assert client.post(f"/console/requests/{rid}/approve", data={"csrf_token": token}).status_code == 200
    page = client.get(f"/console/requests/{rid}").text
    assert c.requests.get("default", rid).status == "in_progress"
    assert "No engine task yet" not in page and "done outside dsar" in page and 'id="complete"' in page
    r = client.post(f"/console/requests/{rid}/complete", data={"csrf_token": token, "note": "  "})
    assert r.status_code == 400 and "needs a note" in r.text and c.requests.get("default", rid).status == "in_progress"
    note = "opt-out of sale set in the CRM and the ad platform"
    r = client.post(
        f"/console/requests/{rid}/complete", data={"csrf_token": token, "note": note}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"].endswith("?done=complete")
    view = c.requests.get("default", rid)
    last = view.timeline[-1]
    assert view.status == "completed" and view.responded_at is not None
    assert (last.kind, last.actor, last.data) == ("responded", "approver@example.com", {"note": note})
    entry = c.operators.audit_entries(limit=1)[0]
    assert (entry.actor, entry.action, entry.target, entry.detail) == ("approver@example.com", "complete", rid, None)
    page = client.get(f"/console/requests/{rid}").text
    assert "No engine task yet" not in page and "No engine task was run" in page and 'id="complete"' not in page
    assert client.post(f"/console/requests/{rid}/complete", data={"csrf_token": token, "note": note}).status_code == 409

    # A viewer may not; a respondent only on a request assigned to them.
    other = ids["fresh_access"]
    c.requests.approve("default", other, actor="test")
    viewer = _signed_in(c, "viewer@example.com")
    form = {"csrf_token": csrf_of(viewer.get(f"/console/requests/{other}").text), "note": "done"}
    assert viewer.post(f"/console/requests/{other}/complete", data=form).status_code == 403
    respondent = _signed_in(c, "respondent@example.com")
    page = respondent.get(f"/console/requests/{other}").text
    assert 'id="complete"' not in page
    form = {"csrf_token": csrf_of(page), "note": "done"}
    assert respondent.post(f"/console/requests/{other}/complete", data=form).status_code == 403
    assert c.requests.get("default", other).status == "in_progress"
    c.requests.assign("default", other, actor="test", assignee="respondent@example.com")
    assert 'id="complete"' in respondent.get(f"/console/requests/{other}").text
    r = respondent.post(f"/console/requests/{other}/complete", data=form, follow_redirects=False)
    assert r.status_code == 303 and c.requests.get("default", other).status == "completed"


def test_completing_is_refused_while_an_engine_task_runs(world: Any) -> None:
    c, _clock, ids = world
    rid = ids["fresh_access"]
    c.requests.approve("default", rid, actor="test")
    start_work(c, rid, "fred@example.com")
    client = _signed_in(c, "approver@example.com")
    page = client.get(f"/console/requests/{rid}").text
    assert 'id="complete-running"' in page and 'id="complete"' not in page and 'id="no-task"' not in page
    r = client.post(f"/console/requests/{rid}/complete", data={"csrf_token": csrf_of(page), "note": "sent"})
    assert r.status_code == 409 and "still running" in r.text and r.text.count("notice notice-error") == 1  # shown once
    assert c.requests.get("default", rid).status == "in_progress"


def test_deny_starts_on_no_basis_and_a_passed_extension_window_says_so(world: Any) -> None:
    c, _clock, ids = world
    client = _signed_in(c, "approver@example.com")
    fresh = client.get(f"/console/requests/{ids['fresh_access']}").text
    select = fresh.split('<select id="basis" name="basis" required>', 1)[1].split("</select>", 1)[0]
    first = re.search(r"<option[^>]*>", select)
    assert first and first.group(0) == '<option value="" selected>', select[:200]
    assert "Extension possible until" in fresh
    overdue = client.get(f"/console/requests/{ids['overdue_access']}").text  # received 60 days ago, CCPA: 45
    assert "Extension possible until" not in overdue and "The extension window has passed" in overdue
    assert 'id="extend"' in fresh and 'id="extend"' not in overdue  # the form only while it can be used
    form = {"csrf_token": csrf_of(fresh), "basis": "", "note": ""}
    assert client.post(f"/console/requests/{ids['fresh_access']}/deny", data=form).status_code == 400
    assert c.requests.get("default", ids["fresh_access"]).status == "received"
