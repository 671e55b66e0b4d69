"""Operators sign in with the company's OpenID Connect provider (a real HTTP server on loopback with RSA keys):
only to an account an admin made, and only with the state this browser started."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dsar.api.app import create_app
from dsar.bootstrap import Container
from dsar.config import Settings
from tests.odr.test_oidc import IDP_CLIENT, IDP_SECRET, Idp
from tests.web.console_helpers import make_operator


@pytest.fixture
def idp() -> Iterator[Idp]:
    server = Idp()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def container(tmp_path: Path, idp: Idp) -> Iterator[Container]:
    console = {"oidc_issuer": idp.issuer, "oidc_client_id": IDP_CLIENT, "oidc_client_secret": IDP_SECRET}
    settings = Settings(
        data_dir=tmp_path, secret_key="k" * 32, run_workers=False, public_url="http://testserver", console=console
    )
    c = Container(settings, with_workers=False)
    yield c
    c.close()


def _start(client: TestClient) -> str:
    assert 'id="oidc"' in client.get("/console/sign-in").text
    r = client.get("/console/oidc/start", follow_redirects=False)
    assert r.status_code == 303 and "dsar_console_oidc=" in r.headers["set-cookie"]
    return str(r.headers["location"])


def test_a_known_operator_signs_in_with_the_company_account(container: Container, idp: Idp) -> None:
    with TestClient(create_app(container)) as client:
        make_operator(container, "ann@example.com", "approver")
        code, state = idp.authorize(_start(client), "Ann@Example.com")
        r = client.get("/console/oidc/callback", params={"code": code, "state": state})
        assert r.status_code == 200 and 'http-equiv="refresh"' in r.text and "dsar_console=" in r.headers["set-cookie"]
        page = client.get("/console/requests")
        assert page.status_code == 200 and "ann@example.com" in page.text
        [entry] = [e for e in container.operators.audit_entries(limit=5) if e.action == "sign_in"]
        assert entry.detail == {"method": "oidc"}


def test_an_unknown_person_or_a_foreign_state_is_refused(container: Container, idp: Idp) -> None:
    with TestClient(create_app(container)) as client:
        code, state = idp.authorize(_start(client), "stranger@example.com")
        r = client.get("/console/oidc/callback", params={"code": code, "state": state}, follow_redirects=False)
        assert r.status_code == 401 and "dsar_console=" not in r.headers.get("set-cookie", "")
        make_operator(container, "ann@example.com", "approver")
        code, _state = idp.authorize(_start(client), "ann@example.com")
        r = client.get("/console/oidc/callback", params={"code": code, "state": "someone-elses"})
        assert r.status_code == 401
        assert client.get("/console/requests", follow_redirects=False).status_code == 303
