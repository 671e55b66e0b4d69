"""Client credentials, access tokens and scopes, on every privacy operation."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import jwt
import pytest

from dsar.errors import InvalidInput
from dsar.kit.clock import FrozenClock, SystemClock
from tests.api.harness import START, Api, running_api, settings_for

OPERATIONS = {
    "startPersonalDataRetrievalTask": START % "jane.doe@example.com",
    "personalDataRetrievalTask": 'query { personalDataRetrievalTask(taskId: "%s") { taskId } }'
    % "0b7a3f52-9b0a-4c62-a1a5-2a3c1a8f1e11",
}


@pytest.fixture(scope="module")
def clock() -> FrozenClock:
    return FrozenClock(SystemClock().now())


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path, clock: FrozenClock) -> Iterator[Api]:
    with running_api(settings_for(tmp_path_factory.mktemp("auth"), demo_dir), clock=clock) as a:
        yield a


def _count(api: Api) -> int:
    with api.container.db.engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT count(*) FROM privacy_tasks").scalar() or 0)


def test_token_with_form_fields_and_basic(api: Api) -> None:
    cid, secret = api.container.auth.create_client("t", ["privacy:manage"])
    r = api.client.post("/token", data={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 900 and body["scope"] == "privacy:manage"
    assert r.headers["cache-control"] == "no-store"
    basic = base64.b64encode(f"{cid}:{secret}".encode()).decode()
    r = api.client.post(
        "/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}
    )
    assert r.status_code == 200 and r.json()["access_token"]


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"grant_type": "client_credentials", "client_id": "nope", "client_secret": "x"}, 401, "invalid_client"),
        ({"grant_type": "password", "client_id": "a", "client_secret": "b"}, 400, "unsupported_grant_type"),
        ({"client_id": "a", "client_secret": "b"}, 400, "invalid_request"),
        ({"grant_type": "client_credentials"}, 401, "invalid_client"),
    ],
)
def test_token_errors_follow_rfc_6749(api: Api, form: dict[str, str], status: int, error: str) -> None:
    r = api.client.post("/token", data=form)
    assert r.status_code == status
    assert r.json()["error"] == error


def test_wrong_secret_and_excess_scope(api: Api) -> None:
    cid, secret = api.container.auth.create_client("t", ["files:manage"])
    r = api.client.post(
        "/token", data={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret + "x"}
    )
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = api.client.post(
        "/token",
        data={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret, "scope": "privacy:manage"},
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"


def _unauthorized(body: dict[str, object], message: str) -> None:
    assert body == {
        "errors": [
            {
                "message": message,
                "extensions": {
                    "classification": {
                        "type": "UnauthorizedError",
                        "errorType": "UnauthorizedException",
                        "errorCode": 401,
                    }
                },
            }
        ],
        "data": None,
    }


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_missing_token(api: Api, operation: str) -> None:
    before = _count(api)
    r = api.client.post("/graphql", json={"query": OPERATIONS[operation]})
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    _unauthorized(r.json(), "Missing authentication token.")
    assert _count(api) == before


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@pytest.mark.parametrize("header", ["Bearer not-a-jwt", "Basic abc", "Bearer ", "token"])
def test_malformed_token(api: Api, operation: str, header: str) -> None:
    before = _count(api)
    r = api.client.post("/graphql", json={"query": OPERATIONS[operation]}, headers={"Authorization": header})
    assert r.status_code == 401
    body = r.json()
    assert body["errors"][0]["extensions"]["classification"]["errorCode"] == 401
    assert _count(api) == before


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_forged_token(api: Api, operation: str) -> None:
    claims = jwt.decode(api.token, options={"verify_signature": False})
    forged = jwt.encode(claims, b"another key, 32 bytes or longer!!", algorithm="HS256")
    r = api.gql(OPERATIONS[operation], token=forged)
    assert r.status_code == 401
    _unauthorized(r.json(), "The security token included in the request is invalid.")
    unsigned = jwt.encode(claims, None, algorithm="none")
    assert api.gql(OPERATIONS[operation], token=unsigned).status_code == 401


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_expired_token(api: Api, clock: FrozenClock, operation: str) -> None:
    cid, secret = api.container.auth.create_client("t", ["privacy:manage"])
    token = api.container.auth.issue_token(cid, secret, None)["access_token"]
    assert isinstance(token, str)
    assert api.gql(OPERATIONS[operation], token=token).status_code == 200
    clock.advance(timedelta(seconds=901))
    try:
        before = _count(api)
        r = api.gql(OPERATIONS[operation], token=token)
        assert r.status_code == 401
        _unauthorized(r.json(), "The security token included in the request is expired.")
        assert _count(api) == before
    finally:
        clock.advance(timedelta(seconds=-901))


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_token_without_the_scope(api: Api, operation: str) -> None:
    cid, secret = api.container.auth.create_client("t", ["files:manage"])
    token = api.container.auth.issue_token(cid, secret, None)["access_token"]
    assert isinstance(token, str)
    before = _count(api)
    r = api.gql(OPERATIONS[operation], token=token)
    assert r.status_code == 200
    assert r.json() == {
        "errors": [
            {
                "message": "You do not have sufficient access to perform this action.",
                "locations": [{"line": 1, "column": OPERATIONS[operation].index(operation) + 1}],
                "path": [operation],
                "extensions": {
                    "classification": {
                        "type": "AccessDeniedError",
                        "errorType": "AccessDeniedException",
                        "errorCode": 403,
                    }
                },
            }
        ],
        "data": {operation: None},
    }
    assert _count(api) == before


def test_a_tenant_never_sees_another_tenants_task(api: Api) -> None:
    task_id = api.start("jane.doe@example.com")
    cid, secret = api.container.auth.create_client("other company", ["privacy:manage"], tenant="acme")
    token = api.container.auth.issue_token(cid, secret, None)["access_token"]
    assert isinstance(token, str)
    q = 'query { personalDataRetrievalTask(taskId: "%s") { taskId } }'
    foreign = api.gql(q % task_id, token=token).json()
    unknown = api.gql(q % "9d4c2f8e-1b7a-4e3f-8c6d-5a4b3c2d1e0f", token=token).json()
    assert foreign == unknown
    assert foreign["errors"][0]["extensions"]["classification"]["type"] == "ResourceNotFoundError"


@pytest.mark.parametrize("tenant", ["adp:app-1", "odr:0123abcd", "", "x" * 65, "a b"])
def test_a_client_cannot_take_a_tenant_dsar_keeps_for_apps_and_people(api: Api, tenant: str) -> None:
    """A client in `adp:<app id>` would read that portability app's tasks (a security review's finding)."""
    with pytest.raises(InvalidInput, match="is not allowed"):
        api.container.auth.create_client("intruder", ["privacy:manage"], tenant=tenant)


def test_the_cli_refuses_a_reserved_tenant_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from dsar.cli.app import app

    monkeypatch.setenv("DSAR_DATA_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DSAR_SECRET_KEY", "k" * 40)
    CliRunner().invoke(app, ["db", "upgrade"])
    result = CliRunner().invoke(
        app, ["clients", "create", "--name", "x", "--scope", "privacy:manage", "--tenant", "adp:1"]
    )
    assert result.exit_code != 0 and "reserves" in result.output and "Traceback" not in result.output
