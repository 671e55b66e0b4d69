"""The `oidc` level: the person signs in with the company's identity provider (a real HTTP server with RSA keys)
and its verified e-mail must be the request's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.harness import Api, running_api
from tests.odr.test_oidc import IDP_CLIENT, IDP_SECRET, Idp
from tests.privacy.conftest import JANE, Mailbox, center_settings
from tests.privacy.test_flow import csrf, submit, wait_case


@pytest.fixture
def provider() -> Iterator[Idp]:
    server = Idp()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def oidc_api(tmp_path: Path, demo_dir: Path, mailbox: tuple[Mailbox, int], provider: Idp) -> Iterator[Api]:
    settings = center_settings(tmp_path, demo_dir, mailbox[1], levels={"access": "oidc"})
    odr = {
        **settings.odr.model_dump(),
        "oidc_issuer": provider.issuer,
        "oidc_client_id": IDP_CLIENT,
        "oidc_client_secret": IDP_SECRET,
    }
    with running_api(settings.model_copy(update={"odr": type(settings.odr)(**odr)})) as api:
        yield api


def _sign_in(api: Api, provider: Idp, location: str, email: str) -> str:
    page = api.client.get(location)
    assert "Sign in with your account instead" in page.text
    r = api.client.post(f"{location}/oidc", data={"csrf_token": csrf(page.text)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith(provider.issuer)
    code, state = provider.authorize(r.headers["location"], email)
    back = api.client.get("/privacy/oidc/callback", params={"code": code, "state": state}, follow_redirects=False)
    assert back.status_code == 303 and back.headers["location"] == location
    return api.client.get(location).text


def test_the_company_sign_in_verifies_the_request(oidc_api: Api, provider: Idp) -> None:
    location = submit(oidc_api)
    assert "Thank you, your request is confirmed" in _sign_in(oidc_api, provider, location, "Jane.Doe@Example.com")
    wait_case(oidc_api, "completed", "access")


def test_another_account_does_not(oidc_api: Api, provider: Idp) -> None:
    location = submit(oidc_api)
    page = _sign_in(oidc_api, provider, location, "someone.else@example.com")
    assert "Thank you" not in page and "Check your e-mail" in page  # one try spent; the code still works
    c = oidc_api.container
    [case] = c.requests.page(c.requests.company_tenant).items
    assert case.status == "received"
    assert JANE not in page
