"""Rate limits hold across replicas: two app instances (two Containers) over one PostgreSQL state database take
turns answering one client address; the limit counts both. `POST /token` answers RFC 6749 JSON, the ODR sign-in
its own HTML page, both 429 with Retry-After."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

import pytest

from dsar.kit.clock import FrozenClock
from tests.api.harness import Api, running_api, settings_for

SIGN_IN = {
    "response_type": "code",
    "client_id": "open-data-rights",
    "redirect_uri": "https://app.example.org/callback",
    "scope": "open-data-request-api",
    "state": "s1",
    "code_challenge": "E9Melhoa2OwvFrEMTJguCQaoeKs8UF1lzKvR6cZOg0Q",
    "code_challenge_method": "S256",
}


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def replicas(tmp_path: Path, demo_dir: Path, pg_url: str, clock: FrozenClock) -> Iterator[list[Api]]:
    limits = {"token_failures": 5, "sign_ins": 4, "window_seconds": 60}
    with ExitStack() as stack:
        yield [
            stack.enter_context(
                running_api(
                    settings_for(tmp_path / name, demo_dir, database_url=pg_url, rate_limits=limits), clock=clock
                )
            )
            for name in ("a", "b")
        ]


def _token(api: Api, cid: str, secret: str) -> tuple[int, dict[str, str], dict[str, str]]:
    r = api.client.post("/token", data={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret})
    return r.status_code, r.json(), dict(r.headers)


def test_wrong_client_secrets_are_throttled_across_replicas(replicas: list[Api], clock: FrozenClock) -> None:
    a, b = replicas
    cid, secret = a.container.auth.create_client("bo", ["privacy:manage"])
    for i in range(5):  # five failures, alternating between the replicas
        status, body, _ = _token(replicas[i % 2], cid, "wrong-secret")
        assert (status, body["error"]) == (401, "invalid_client")
    for api in (a, b):
        status, body, headers = _token(api, cid, "wrong-secret")
        assert (status, body["error"]) == (429, "slow_down")
        assert 1 <= int(headers["retry-after"]) <= 60 and headers["cache-control"] == "no-store"
    status, body, _ = _token(b, cid, secret)  # even the right secret waits for the window to end
    assert status == 429
    clock.advance(timedelta(seconds=60))
    status, body, _ = _token(a, cid, secret)
    assert status == 200 and body["access_token"]


def test_successful_tokens_are_not_counted(replicas: list[Api]) -> None:
    cid, secret = replicas[0].container.auth.create_client("bo", ["privacy:manage"])
    for i in range(12):
        assert _token(replicas[i % 2], cid, secret)[0] == 200


def _sign_ins(api: Api) -> int:
    with api.container.db.engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT count(*) FROM odr_sign_ins").scalar() or 0)


def test_odr_sign_ins_are_throttled_across_replicas(replicas: list[Api], clock: FrozenClock) -> None:
    a, b = replicas
    for i in range(4):
        page = replicas[i % 2].client.get("/odr/oauth/authorize", params=SIGN_IN)
        assert page.status_code == 200 and 'name="sign_in"' in page.text, page.text
    assert _sign_ins(a) == 4
    for api in (a, b):
        page = api.client.get("/odr/oauth/authorize", params=SIGN_IN)
        assert page.status_code == 429 and page.headers["content-type"].startswith("text/html")
        assert "Too many sign-in attempts" in page.text and 1 <= int(page.headers["retry-after"]) <= 60
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        refused = api.client.post("/odr/oauth/authorize", data={"sign_in": "x", "step": "email", "email": "j@x.org"})
        assert refused.status_code == 429
    assert _sign_ins(a) == 4  # the refused ones made no sign-in rows
    clock.advance(timedelta(seconds=60))
    assert b.client.get("/odr/oauth/authorize", params=SIGN_IN).status_code == 200
