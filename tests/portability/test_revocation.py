"""Revoking an app's authorization (CANCELED queries, refused tokens) and the daily quota per app and scope."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from dsar.cli.app import app as cli
from dsar.portability.models import DataQuery
from dsar.tasks.models import PrivacyTask
from tests.portability.harness import DOWN_URL, JANE, ORDERS, PROFILE, Adp, adp_settings, running_adp
from tests.web.console_helpers import csrf_of, make_operator, sign_in

JOHN = "john.smith@example.com"


def _type(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"category", "type", "message"} and body["message"]
    return str(body["type"])


def _canceled_with(adp: Adp, query_id: str) -> list[dict[str, Any]]:
    """The task's errors, after checking the CANCELED notification was queued for the app."""
    c = adp.container
    notes = [json.loads(m.fields["Message"]) for m in c.notifications.messages(adp.app_id) if m.type == "Notification"]
    assert {"id": query_id, "version": "1.0", "status": "CANCELED"} in notes
    with c.db.session(write=False) as s:
        task = s.get(PrivacyTask, query_id)
        q = s.get(DataQuery, query_id)
        assert task is not None and q is not None
        assert task.status == "FAILED" and q.outcome == "CANCELED" and q.active_key is None and q.records == []
        return list(task.errors)


def test_revoking_cancels_queries_and_refuses_earlier_tokens(demo_dir: Path, tmp_path: Path) -> None:
    with running_adp(adp_settings(tmp_path, demo_dir)) as adp:
        c = adp.container
        token, johns = adp.token(PROFILE, ORDERS), adp.token(PROFILE, subject=JOHN)
        done = adp.start(PROFILE, token)
        assert adp.wait(done) == "COMPLETED"
        c.runner.stop()
        running = adp.start(ORDERS, token)
        assert c.portability.revoke(adp.app_id, JANE) == 1
        for r in (adp.post(ORDERS, token), adp.records(PROFILE, done, token)):
            assert _type(r, 401) == "REVOKED_TOKEN" and r.headers["www-authenticate"].startswith("Bearer")
        assert adp.post(PROFILE, johns).status_code == 201  # another customer of the app is not affected
        c.runner.start()
        assert adp.wait(running) == "CANCELED"
        assert [e["code"] for e in _canceled_with(adp, running)] == ["AUTHORIZATION_REVOKED"]

        adp.clock.advance(timedelta(seconds=2))  # the customer authorizes the app again
        fresh = adp.token(PROFILE, ORDERS)
        assert _type(adp.records(PROFILE, done, fresh), 404) == "QUERY_NOT_FOUND"  # gone with the revocation
        again = adp.start(ORDERS, fresh)  # not the remembered answer of the revoked authorization
        assert again != running and adp.wait(again) == "COMPLETED"
        assert adp.records(ORDERS, again, fresh).json()["records"]


def test_a_revocation_during_the_run_discards_the_files(demo_dir: Path, tmp_path: Path) -> None:
    with running_adp(adp_settings(tmp_path, demo_dir)) as adp:
        c = adp.container
        job = c.data_query_job
        written: list[str] = []
        original = job._write

        def write_then_revoke(*args: Any) -> Any:
            records, counts = original(*args)
            written.extend(k for r in records for k in r.values())
            c.portability.revoke(adp.app_id, JANE)  # committed while the job still runs
            return records, counts

        job._write = write_then_revoke  # type: ignore[method-assign]
        qid = adp.start(ORDERS, adp.token(ORDERS))
        assert adp.wait(qid) == "CANCELED"
        assert [e["code"] for e in _canceled_with(adp, qid)] == ["AUTHORIZATION_REVOKED"]
        deadline = time.monotonic() + 10  # removed right after the commit that made the outcome visible
        while any(c.storage.exists(k) for k in written):
            assert time.monotonic() < deadline, "the files of the canceled query were not removed"
            time.sleep(0.05)
        assert written


def test_revoking_for_every_customer(demo_dir: Path, tmp_path: Path) -> None:
    with running_adp(adp_settings(tmp_path, demo_dir)) as adp:
        other = adp.app("unaffected")
        janes, johns = adp.token(PROFILE), adp.token(PROFILE, subject=JOHN)
        assert adp.container.portability.revoke(adp.app_id) == 0
        assert _type(adp.post(PROFILE, janes), 401) == _type(adp.post(PROFILE, johns), 401) == "REVOKED_TOKEN"
        assert adp.post(PROFILE, adp.token(PROFILE, app_id=other)).status_code == 201


def test_an_admin_revokes_one_customers_authorization_in_the_console(demo_dir: Path, tmp_path: Path) -> None:
    with running_adp(adp_settings(tmp_path, demo_dir)) as adp:
        c = adp.container
        make_operator(c, "admin@example.com", "admin")
        assert sign_in(adp.client, "admin@example.com").status_code == 303
        janes, johns = adp.token(PROFILE), adp.token(PROFILE, subject=JOHN)
        page = adp.client.get("/console/integrations").text
        assert f'action="/console/integrations/apps/{adp.app_id}/revoke-customer"' in page
        form = {"csrf_token": csrf_of(page), "email": "not an e-mail"}
        r = adp.client.post(f"/console/integrations/apps/{adp.app_id}/revoke-customer", data=form)
        assert r.status_code == 400 and "not valid" in r.text
        assert adp.post(PROFILE, janes).status_code == 201  # nothing changed
        form["email"] = "  Jane.Doe@Example.com "  # as an operator might paste it
        assert JANE == "jane.doe@example.com"
        r = adp.client.post("/console/integrations/apps/no-such-app/revoke-customer", data={**form, "confirmed": "yes"})
        assert r.status_code == 404
        r = adp.client.post(f"/console/integrations/apps/{adp.app_id}/revoke-customer", data=form)
        assert r.status_code == 200 and 'id="confirm"' in r.text  # first the confirmation page
        assert adp.post(PROFILE, janes).status_code == 201  # nothing changed yet
        form["confirmed"] = "yes"
        r = adp.client.post(f"/console/integrations/apps/{adp.app_id}/revoke-customer", data=form)
        assert r.status_code == 200 and 'id="flash"' in r.text and "authorization of this app is revoked" in r.text
        assert _type(adp.post(PROFILE, janes), 401) == "REVOKED_TOKEN"
        assert adp.post(PROFILE, johns).status_code == 201  # another customer of the app is not affected
        [entry] = [e for e in c.operators.audit_entries(limit=10) if e.action == "app_revoked"]
        assert entry.target == adp.app_id and "jane" not in json.dumps(entry.detail).lower()
        r = adp.client.post(
            f"/console/integrations/apps/{adp.app_id}/revoke-customer", data={"csrf_token": "forged", "email": JANE}
        )
        assert r.status_code == 403


def test_daily_quota_per_app_and_scope(demo_dir: Path, tmp_path: Path) -> None:
    with running_adp(adp_settings(tmp_path, demo_dir)) as adp:
        app = adp.container.portability.create_app("quota app", DOWN_URL, daily_quota=2).app_id
        tokens = [adp.token(PROFILE, ORDERS, subject=f"customer{i}@example.com", app_id=app) for i in range(3)]
        first = adp.post(PROFILE, tokens[0])
        assert first.status_code == 201
        assert adp.post(PROFILE, tokens[0]).json() == first.json()  # the remembered answer uses no quota
        assert adp.post(PROFILE, tokens[1]).status_code == 201
        r = adp.post(PROFILE, tokens[2])
        assert _type(r, 429) == "QUOTA_EXCEEDED" and "2 data queries" in r.json()["message"]
        now = adp.clock.now()
        midnight = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
        assert int(r.headers["retry-after"]) == int((midnight - now).total_seconds())
        assert adp.post(ORDERS, tokens[2]).status_code == 201  # another scope has its own quota
        assert adp.post(PROFILE, adp.token(PROFILE, subject=JOHN)).status_code == 201  # another app too
        with adp.container.db.session(write=False) as s:
            for q in s.query(DataQuery).all():
                adp.wait(q.id)  # the clock must not jump under a running task
        adp.clock.advance(midnight - now)
        assert adp.post(PROFILE, adp.token(PROFILE, subject=JOHN, app_id=app)).status_code == 201  # a new day


def test_apps_cli_revoke_and_quota(tmp_path: Path) -> None:
    env = {"DSAR_DATA_DIR": str(tmp_path), "DSAR_SECRET_KEY": "k" * 32}
    made = CliRunner().invoke(
        cli,
        ["apps", "create", "--name", "A", "--notify-url", "https://93.184.216.34/n", "--daily-quota", "5", "--json"],
        env=env,
    )
    assert made.exit_code == 0, made.output
    app_id = json.loads(made.output)["app_id"]
    r = CliRunner().invoke(cli, ["apps", "revoke", app_id, "--user", JANE], env=env)
    assert r.exit_code == 0 and "0 data queries will end CANCELED" in r.output, r.output
    unknown = CliRunner().invoke(cli, ["apps", "revoke", "00000000-0000-4000-8000-000000000000"], env=env)
    assert unknown.exit_code == 1 and "No app" in unknown.output
