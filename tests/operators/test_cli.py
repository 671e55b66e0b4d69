"""`dsar operators ...` through the real CLI on a SQLite state directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from dsar.cli.app import app


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DSAR_DATA_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DSAR_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("DSAR_PUBLIC_URL", "https://dsar.example.com")
    return tmp_path / "state"


def test_create_prints_a_one_time_link_and_the_audit_log_verifies(state: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["operators", "create", "--email", "ann@example.com", "--role", "approver"])
    assert r.exit_code == 0, r.output
    assert "operator ann@example.com (approver) created" in r.output
    assert "https://dsar.example.com/console/setup?token=" in r.output
    r = runner.invoke(app, ["operators", "create", "--email", "ann@example.com", "--role", "boss"])
    assert r.exit_code == 1 and "unknown role 'boss'" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["operators", "create", "--email", "ann@example.com", "--role", "viewer"])
    assert r.exit_code == 1 and "exists" in r.output
    r = runner.invoke(app, ["operators", "list"])
    assert "ann@example.com\tapprover\t-\tinvited" in r.output
    r = runner.invoke(app, ["operators", "audit", "verify"])
    assert r.exit_code == 0 and "intact (1 entries)" in r.output
    engine = create_engine(f"sqlite:///{state / 'dsar.sqlite3'}")
    with engine.begin() as c:
        c.execute(text("UPDATE operator_audit SET actor = 'someone' WHERE seq = 1"))
    engine.dispose()
    r = runner.invoke(app, ["operators", "audit", "verify"])
    assert r.exit_code == 1 and "tampered with at entry 1" in r.output
    r = runner.invoke(app, ["operators", "audit", "export", "--format", "json"])
    assert r.exit_code == 0 and '"action": "operator_created"' in r.output
