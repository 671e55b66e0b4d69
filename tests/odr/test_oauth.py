"""Sign-in over HTTP: authorization code + PKCE (S256) with a code e-mailed through a real SMTP server."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from dsar.auth.endusers import ODR_SCOPE
from dsar.kit.clock import FrozenClock, SystemClock
from tests.api.harness import Api, running_api, settings_for
from tests.odr.conftest import CLIENT, JANE, REDIRECT, Inbox, exchange, form_field, pkce, sign_in


class MovableClock(FrozenClock):
    """Real time plus an offset: workers and SMTP keep running, tests jump ahead."""

    def __init__(self) -> None:
        super().__init__()
        self.offset = timedelta()

    def now(self) -> Any:
        return SystemClock().now() + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


@pytest.fixture
def inbox(smtp: tuple[Inbox, int]) -> Inbox:
    return smtp[0]


def test_the_full_sign_in_gives_tokens_that_open_the_api(odr_api: Api, inbox: Inbox) -> None:
    s = sign_in(odr_api, inbox)
    r = exchange(odr_api, s)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["token_type"] == "Bearer" and body["scope"] == ODR_SCOPE and body["expires_in"] == 3600
    me = odr_api.client.get("/odr/data/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json()["account"] == JANE

    # The refresh token rotates; reusing the old one revokes the chain (the new one stops working too).
    r2 = odr_api.client.post(
        "/odr/oauth/token", data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}
    )
    assert r2.status_code == 200, r2.text
    newer = r2.json()["refresh_token"]
    replay = odr_api.client.post(
        "/odr/oauth/token", data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}
    )
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    after = odr_api.client.post("/odr/oauth/token", data={"grant_type": "refresh_token", "refresh_token": newer})
    assert after.status_code == 400 and after.json()["error"] == "invalid_grant"


def test_the_code_works_once_and_a_replay_revokes_its_tokens(odr_api: Api, inbox: Inbox) -> None:
    s = sign_in(odr_api, inbox)
    first = exchange(odr_api, s)
    assert first.status_code == 200
    again = exchange(odr_api, s)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    refresh = first.json()["refresh_token"]
    r = odr_api.client.post("/odr/oauth/token", data={"grant_type": "refresh_token", "refresh_token": refresh})
    assert r.status_code == 400


def test_a_wrong_verifier_is_refused_and_spends_the_code(odr_api: Api, inbox: Inbox) -> None:
    s = sign_in(odr_api, inbox)
    wrong = exchange(odr_api, s, code_verifier=pkce()[0])
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    assert "code_verifier" in wrong.json()["error_description"]
    assert exchange(odr_api, s).status_code == 400
    missing = exchange(odr_api, sign_in(odr_api, inbox), code_verifier="")
    assert missing.status_code == 400


def test_a_wrong_redirect_uri_or_client_is_refused(odr_api: Api, inbox: Inbox) -> None:
    r = exchange(odr_api, sign_in(odr_api, inbox), redirect_uri="https://evil.example.net/callback")
    assert r.status_code == 400 and "redirect_uri" in r.json()["error_description"]
    r = exchange(odr_api, sign_in(odr_api, inbox), client_id="someone-else")
    assert r.status_code == 400 and "client_id" in r.json()["error_description"]


def test_an_expired_authorization_code_is_refused(tmp_path: Path, demo_dir: Path, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    clock = MovableClock()
    odr = {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none"}
    with running_api(settings_for(tmp_path, demo_dir, odr=odr), clock=clock) as api:
        s = sign_in(api, inbox)
        clock.advance(timedelta(seconds=61))
        r = exchange(api, s)
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant"

        # An e-mailed code also expires (10 minutes).
        _verifier, challenge = pkce()
        page = api.client.get("/odr/oauth/authorize", params=_params(challenge))
        flow = form_field(page.text, "sign_in")
        api.client.post("/odr/oauth/authorize", data={"sign_in": flow, "step": "email", "email": JANE})
        code = inbox.code_for(JANE)
        clock.advance(timedelta(minutes=11))
        page = api.client.post("/odr/oauth/authorize", data={"sign_in": flow, "step": "code", "code": code})
        assert page.status_code == 200 and "The code has expired" in page.text


def _params(challenge: str, **extra: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": CLIENT,
        "redirect_uri": REDIRECT,
        "scope": ODR_SCOPE,
        "state": "s1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }


def test_wrong_codes_lock_the_sign_in(odr_api: Api, inbox: Inbox) -> None:
    _v, challenge = pkce()
    page = odr_api.client.get("/odr/oauth/authorize", params=_params(challenge))
    flow = form_field(page.text, "sign_in")
    odr_api.client.post("/odr/oauth/authorize", data={"sign_in": flow, "step": "email", "email": JANE})
    code = inbox.code_for(JANE)
    wrong = "000000" if code != "000000" else "111111"
    for i in range(4):
        page = odr_api.client.post("/odr/oauth/authorize", data={"sign_in": flow, "step": "code", "code": wrong})
        assert "That code is not right" in page.text and f"{4 - i} tries left" in page.text
    page = odr_api.client.post("/odr/oauth/authorize", data={"sign_in": flow, "step": "code", "code": wrong})
    assert "Too many wrong codes" in page.text
    # Even the right code no longer works on a locked sign-in.
    page = odr_api.client.post(
        "/odr/oauth/authorize", data={"sign_in": flow, "step": "code", "code": code}, follow_redirects=False
    )
    assert page.status_code == 200 and "Too many wrong codes" in page.text


def test_an_address_gets_a_bounded_number_of_codes(odr_api: Api, inbox: Inbox) -> None:
    _v, challenge = pkce()
    for i in range(6):
        page = odr_api.client.get("/odr/oauth/authorize", params=_params(challenge))
        flow = form_field(page.text, "sign_in")
        page = odr_api.client.post(
            "/odr/oauth/authorize", data={"sign_in": flow, "step": "email", "email": "x@example.com"}
        )
        assert ("Too many codes" in page.text) == (i == 5)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": ""}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "openid email"}, "invalid_scope"),
    ],
)
def test_bad_authorization_requests_go_back_to_the_app(odr_api: Api, change: dict[str, str], error: str) -> None:
    _v, challenge = pkce()
    params = _params(challenge, **change)
    if change.get("code_challenge") == "":
        del params["code_challenge"]
    r = odr_api.client.get("/odr/oauth/authorize", params=params, follow_redirects=False)
    assert r.status_code == 302
    q = parse_qs(urlsplit(r.headers["location"]).query)
    assert q["error"] == [error] and q["state"] == ["s1"]
    assert r.headers["location"].startswith(REDIRECT)


@pytest.mark.parametrize(
    "change",
    [
        {"client_id": "unknown"},
        {"redirect_uri": "javascript:alert(1)"},
        {"redirect_uri": "http://evil.example.net/cb"},
        {"redirect_uri": ""},
    ],
)
def test_a_bad_client_or_redirect_uri_is_shown_not_redirected(odr_api: Api, change: dict[str, str]) -> None:
    _v, challenge = pkce()
    r = odr_api.client.get("/odr/oauth/authorize", params=_params(challenge, **change), follow_redirects=False)
    assert r.status_code == 400 and "text/html" in r.headers["content-type"]
    assert "Cannot sign in" in r.text


def test_pages_work_without_javascript_and_cannot_be_framed(odr_api: Api) -> None:
    _v, challenge = pkce()
    for path in ("/odr/oauth/authorize", "/odr/oauth/authorized", "/odr/authorization"):
        r = odr_api.client.get(path, params=_params(challenge))
        assert r.status_code == 200
        assert '<form method="post"' in r.text and "<script" not in r.text
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert r.headers["cache-control"] == "no-store"


def test_server_metadata_rfc8414(odr_api: Api) -> None:
    for path in (
        "/.well-known/oauth-authorization-server",
        "/.well-known/oauth-authorization-server/odr",
        "/odr/.well-known/oauth-authorization-server",
    ):
        meta = odr_api.client.get(path).json()
        assert meta["issuer"] == "http://testserver/odr"
        assert meta["authorization_endpoint"] == "http://testserver/odr/oauth/authorize"
        assert meta["token_endpoint"] == "http://testserver/odr/oauth/token"
        assert meta["code_challenge_methods_supported"] == ["S256"]
        assert meta["scopes_supported"] == [ODR_SCOPE]
    settings = odr_api.client.get("/odr/settings").json()
    assert settings["oAuthClientId"] == CLIENT and settings["oAuthUrl"] == "http://testserver/odr"


def test_token_endpoint_errors(odr_api: Api) -> None:
    r = odr_api.client.post("/odr/oauth/token", data={"grant_type": "password"})
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
    r = odr_api.client.post("/odr/oauth/token", data={})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = odr_api.client.post("/odr/oauth/token", data={"grant_type": "authorization_code", "code": "nope"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
