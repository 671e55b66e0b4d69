"""End-user tokens of the company's identity provider (RS256, keys from its JWKS URL on a real loopback socket)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from dsar.auth.endusers import EndUserTokens, IdentityProvider
from dsar.errors import Unauthenticated
from dsar.kit.clock import FrozenClock
from tests.portability.harness import JANE, ORDERS, START, adp_settings, running_adp

ISSUER = "https://login.example.com"


@pytest.fixture(scope="module")
def idp() -> Iterator[tuple[str, Any]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class Jwks(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json", key
    finally:
        server.shutdown()
        server.server_close()


def _token(key: Any, **claims: Any) -> str:
    base = {
        "iss": ISSUER,
        "aud": "dsar",
        "email": "Jane.Doe@Example.com",
        "email_verified": True,
        "scope": ORDERS,
        "azp": "app",
        "iat": int(START.timestamp()),
        "exp": int(START.timestamp()) + 600,
    }
    return jwt.encode({**base, **claims}, key, algorithm="RS256", headers={"kid": "k1"})


def test_idp_tokens_are_verified(idp: tuple[str, Any]) -> None:
    url, key = idp
    tokens = EndUserTokens(key=b"k" * 32, clock=FrozenClock(START), idp=IdentityProvider(ISSUER, "dsar", url))
    user = tokens.verify("Bearer " + _token(key, transfer={"history_days": 30}))
    assert (user.subject, user.client_id, user.scopes) == (JANE, "app", {ORDERS})
    assert user.transfer == {"history_days": 30}
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for bad in (
        _token(key, iss="https://evil.example"),
        _token(key, aud="someone-else"),
        _token(other),
        _token(key, email_verified=False),
        _token(key, email="not-an-email"),
    ):
        with pytest.raises(Unauthenticated):
            tokens.verify("Bearer " + bad)
    with pytest.raises(Unauthenticated) as exc:
        tokens.verify("Bearer " + _token(key, exp=int(START.timestamp()) - 1))
    assert exc.value.code == "expired"
    assert tokens.verify("Bearer " + tokens.issue(JANE, [ORDERS], "app")).subject == JANE  # dsar's own still work


def test_a_data_query_with_an_idp_token(idp: tuple[str, Any], tmp_path: Path, demo_dir: Path) -> None:
    url, key = idp
    settings = adp_settings(tmp_path, demo_dir).model_copy(update={})
    settings.idp.issuer, settings.idp.jwks_url = ISSUER, url
    with running_adp(settings) as adp:
        token = _token(key, azp=adp.app_id)
        query_id = adp.start(ORDERS, token)
        assert adp.wait(query_id) == "COMPLETED"
        assert adp.records(ORDERS, query_id, token).status_code == 200
