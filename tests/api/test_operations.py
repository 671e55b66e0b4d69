"""Health, readiness, metrics, GraphiQL, and the command line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dsar.cli.app import app as cli
from tests.api.harness import Api, running_api, settings_for


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path) -> Iterator[Api]:
    with running_api(settings_for(tmp_path_factory.mktemp("ops"), demo_dir)) as a:
        yield a


def test_health_and_readiness(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    r = api.client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "checks": {"database": "ok", "storage": "ok"}}


def test_readiness_fails_when_the_database_is_gone(tmp_path: Path, demo_dir: Path) -> None:
    settings = settings_for(tmp_path, demo_dir, database_url=f"sqlite:///{tmp_path}/state.sqlite3")
    with running_api(settings) as a:
        a.container.db.engine.dispose()
        (tmp_path / "state.sqlite3").unlink()
        (tmp_path / "state.sqlite3").mkdir()  # a directory where the database file was
        r = a.client.get("/readyz")
        assert r.status_code == 503
        assert r.json()["checks"]["database"] == "unavailable"  # the exception's class only in the log
        assert "Error" not in r.text
        (tmp_path / "state.sqlite3").rmdir()


def test_metrics_count_tasks_by_status(api: Api) -> None:
    api.wait(api.start("jane.doe@example.com"))
    body = api.client.get("/metrics").text
    assert 'dsar_tasks{kind="retrieval",status="COMPLETED"}' in body


def test_graphiql_page_in_a_browser(api: Api) -> None:
    r = api.client.get("/graphql", headers={"Accept": "text/html"})
    assert r.status_code == 200 and "graphiql" in r.text.lower()


def test_clients_create_json_and_db_upgrade(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSAR_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    r = runner.invoke(cli, ["db", "upgrade"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["clients", "create", "--name", "bo", "--scope", "privacy:manage", "--json"])
    assert r.exit_code == 0, r.output
    creds = json.loads(r.stdout)
    assert set(creds) == {"client_id", "client_secret"}
    r = runner.invoke(cli, ["clients", "create", "--name", "bo", "--scope", "admin:everything"])
    assert r.exit_code == 1
    assert "unknown scope" in r.output
