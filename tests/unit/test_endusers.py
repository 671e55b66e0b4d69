"""End-user tokens: issued by `dsar tokens user`, verified with scopes, expiry and forgery checks."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from typer.testing import CliRunner

from dsar.auth.endusers import EndUserTokens
from dsar.bootstrap import Container
from dsar.cli.app import app as cli
from dsar.config import Settings
from dsar.errors import Unauthenticated
from dsar.kit.clock import FrozenClock


def test_issue_and_verify() -> None:
    clock = FrozenClock()
    tokens = EndUserTokens(key=b"k" * 32, clock=clock)
    token = tokens.issue(
        " Jane.Doe@Example.com ", ["portability-physical-orders"], "app-1", 600, {"history_days": 30, "grant": "once"}
    )
    user = tokens.verify(f"Bearer {token}")
    assert user.subject == "jane.doe@example.com" and user.client_id == "app-1"
    assert user.scopes == {"portability-physical-orders"}
    assert user.transfer == {"history_days": 30, "grant": "once"}
    clock.advance(timedelta(seconds=601))
    with pytest.raises(Unauthenticated) as exc:
        tokens.verify(f"Bearer {token}")
    assert exc.value.code == "expired"


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic x", "Bearer nope"])
def test_bad_headers(header: str | None) -> None:
    with pytest.raises(Unauthenticated):
        EndUserTokens(key=b"k" * 32, clock=FrozenClock()).verify(header)


def test_a_client_token_or_another_key_is_refused() -> None:
    clock = FrozenClock()
    token = EndUserTokens(key=b"a" * 32, clock=clock).issue("a@example.com", ["x"])
    with pytest.raises(Unauthenticated):
        EndUserTokens(key=b"b" * 32, clock=clock).verify(f"Bearer {token}")
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["typ"] = "client"
    with pytest.raises(Unauthenticated):
        EndUserTokens(key=b"a" * 32, clock=clock).verify("Bearer " + jwt.encode(claims, b"a" * 32, algorithm="HS256"))


def test_cli_prints_a_token_the_server_accepts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSAR_DATA_DIR", str(tmp_path))
    r = CliRunner().invoke(
        cli,
        [
            "tokens",
            "user",
            "--subject",
            "jane.doe@example.com",
            "--scope",
            "open-data-request-api",
            "--client-id",
            "aeon",
            "--ttl",
            "120",
        ],
    )
    assert r.exit_code == 0, r.output
    c = Container(Settings(data_dir=tmp_path))
    user = c.endusers.verify("Bearer " + r.stdout.strip())
    assert (user.subject, user.client_id, user.scopes) == ("jane.doe@example.com", "aeon", {"open-data-request-api"})
    bad = CliRunner().invoke(cli, ["tokens", "user", "--subject", "nope", "--scope", "x"])
    assert bad.exit_code == 2


def test_cli_transfer_preferences(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSAR_DATA_DIR", str(tmp_path))
    args = ["tokens", "user", "--subject", "a@example.com", "--scope", "portability-physical-orders"]
    r = CliRunner().invoke(cli, [*args, "--history-days", "30", "--grant", "once"])
    assert r.exit_code == 0, r.output
    user = Container(Settings(data_dir=tmp_path)).endusers.verify("Bearer " + r.stdout.strip())
    assert user.transfer == {"history_days": 30, "grant": "once"}
    assert CliRunner().invoke(cli, [*args, "--since", "2026-13-01"]).exit_code == 2
    assert CliRunner().invoke(cli, [*args, "--grant", "forever"]).exit_code == 2
    assert CliRunner().invoke(cli, [*args, "--since", "2026-01-01", "--history-days", "3"]).exit_code == 2
