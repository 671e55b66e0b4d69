"""Signing in through the company's OpenID Connect provider (a real HTTP server on loopback with RSA keys)."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from dsar.auth.endusers import ODR_SCOPE
from tests.api.harness import Api, running_api, settings_for
from tests.odr.conftest import CLIENT, REDIRECT, form_field, pkce

IDP_CLIENT, IDP_SECRET = "dsar-at-acme", "s3cret"


class Idp:
    """Discovery, JWKS and a token endpoint; `/authorize` is played by the test (it knows the person)."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.codes: dict[str, dict[str, Any]] = {}
        self.email_verified = True
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def _send(self, status: int, body: Any) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    self._send(200, idp.discovery())
                elif self.path == "/jwks":
                    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(idp.key.public_key()))
                    self._send(200, {"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]})
                else:
                    self._send(404, {})

            def do_POST(self) -> None:
                form = {
                    k: v[0] for k, v in parse_qs(self.rfile.read(int(self.headers["content-length"])).decode()).items()
                }
                grant = idp.codes.pop(form.get("code", ""), None)
                challenge = base64.urlsafe_b64encode(hashlib.sha256(form.get("code_verifier", "").encode()).digest())
                if (
                    grant is None
                    or form.get("client_secret") != IDP_SECRET
                    or challenge.rstrip(b"=").decode() != grant["challenge"]
                ):
                    self._send(400, {"error": "invalid_grant"})
                    return
                now = int(time.time())
                claims = {
                    "iss": idp.issuer,
                    "aud": IDP_CLIENT,
                    "sub": "u-1",
                    "email": grant["email"],
                    "email_verified": idp.email_verified,
                    "nonce": grant["nonce"],
                    "iat": now,
                    "exp": now + 300,
                }
                token = jwt.encode(claims, idp.key, algorithm="RS256", headers={"kid": "k1"})
                self._send(200, {"access_token": "x", "token_type": "Bearer", "id_token": token})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.issuer + "/authorize",
            "token_endpoint": self.issuer + "/token",
            "jwks_uri": self.issuer + "/jwks",
        }

    def authorize(self, url: str, email: str) -> tuple[str, str]:
        """The person signs in at the provider: (code, state) for the redirect back to dsar."""
        q = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        assert q["client_id"] == IDP_CLIENT and q["code_challenge_method"] == "S256" and "openid" in q["scope"]
        code = f"c{len(self.codes)}-{q['state'][:6]}"
        self.codes[code] = {"email": email, "nonce": q["nonce"], "challenge": q["code_challenge"]}
        return code, q["state"]


@pytest.fixture
def idp() -> Iterator[Idp]:
    server = Idp()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def api(tmp_path: Path, demo_dir: Path, idp: Idp) -> Iterator[Api]:
    odr = {"oidc_issuer": idp.issuer, "oidc_client_id": IDP_CLIENT, "oidc_client_secret": IDP_SECRET}
    with running_api(settings_for(tmp_path, demo_dir, run_workers=False, odr=odr)) as a:
        yield a


def _start(api: Api) -> tuple[str, str]:
    verifier, challenge = pkce()
    params = {
        "response_type": "code",
        "client_id": CLIENT,
        "redirect_uri": REDIRECT,
        "scope": ODR_SCOPE,
        "state": "st",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    page = api.client.get("/odr/oauth/authorize", params=params)
    assert "Sign in with your company account" in page.text
    flow = form_field(page.text, "sign_in")
    r = api.client.post("/odr/oauth/authorize", data={"sign_in": flow, "step": "oidc"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return verifier, r.headers["location"]


def test_company_sign_in_gives_tokens_for_the_verified_email(api: Api, idp: Idp) -> None:
    verifier, location = _start(api)
    code, state = idp.authorize(location, "Jane.Doe@Example.com")
    back = api.client.get("/odr/oauth/oidc/callback", params={"code": code, "state": state}, follow_redirects=False)
    assert back.status_code == 303, back.text
    q = {k: v[0] for k, v in parse_qs(urlsplit(back.headers["location"]).query).items()}
    assert back.headers["location"].startswith(REDIRECT) and q["state"] == "st"
    data = {
        "grant_type": "authorization_code",
        "code": q["code"],
        "redirect_uri": REDIRECT,
        "client_id": CLIENT,
        "code_verifier": verifier,
    }
    tokens = api.client.post("/odr/oauth/token", data=data).json()
    me = api.client.get("/odr/data/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.json()["account"] == "jane.doe@example.com"
    # The provider's redirect is single use.
    again = api.client.get("/odr/oauth/oidc/callback", params={"code": code, "state": state})
    assert again.status_code == 400


def test_an_unverified_email_or_a_forged_state_is_refused(api: Api, idp: Idp) -> None:
    idp.email_verified = False
    _verifier, location = _start(api)
    code, state = idp.authorize(location, "jane.doe@example.com")
    r = api.client.get("/odr/oauth/oidc/callback", params={"code": code, "state": state})
    assert r.status_code == 400 and "could not be verified" in r.text
    r = api.client.get("/odr/oauth/oidc/callback", params={"code": "c", "state": "forged"})
    assert r.status_code == 400 and "expired" in r.text
