"""`GET /.well-known/jwks.json` of a real app: the keys that sign, and those still in their grace period."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from dsar.api.app import create_app
from dsar.bootstrap import Container
from dsar.config import Settings
from dsar.kit.clock import FrozenClock
from dsar.kit.jws import SigningKey, thumbprint

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def test_jwks_publishes_the_signing_key_and_keys_in_their_grace_period(tmp_path: Path, demo_dir: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    recent = SigningKey.generate(NOW - 100 * DAY, NOW - 10 * DAY)  # ended 10 days ago: within 30 days of grace
    old = SigningKey.generate(NOW - 200 * DAY, NOW - 100 * DAY)  # ended 100 days ago: no longer published
    (keys / "recent.json").write_text(json.dumps(recent.private_jwk()))
    (keys / "old.json").write_text(json.dumps(old.public.jwk()))
    settings = Settings(
        data_dir=tmp_path / "state",
        datamap=demo_dir / "datamap.yaml",
        secret_key="k" * 32,
        run_workers=False,
        public_url="https://privacy.example.com",
        archive_signing={"keys_dir": keys, "grace_days": 30, "key_lifetime_days": 60},
    )
    container = Container(settings, clock=FrozenClock(NOW))
    with TestClient(create_app(container)) as client:
        r = client.get("/.well-known/jwks.json")
        again = client.get("/.well-known/jwks.json")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/jwk-set+json"
    assert r.headers["cache-control"] == "public, max-age=3600"
    assert again.content == r.content  # the first request made the signing key; it is not made twice
    published = r.json()["keys"]
    signing = container.worker.signer(NOW)
    assert signing is not None and signing.kid not in (recent.kid, old.kid)
    assert [k["kid"] for k in published] == [recent.kid, signing.kid]
    current = published[1]
    assert current == {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": current["x"],
        "kid": signing.kid,
        "use": "sig",
        "alg": "EdDSA",
        "nbf": int(NOW.timestamp()),
        "exp": int((NOW + 60 * DAY).timestamp()),
    }
    assert isinstance(signing, SigningKey) and thumbprint(signing.private.public_key()) == signing.kid
    assert all("d" not in k for k in published)


def test_signing_off_makes_unsigned_archives_and_no_key(tmp_path: Path, demo_dir: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        datamap=demo_dir / "datamap.yaml",
        secret_key="k" * 32,
        run_workers=False,
        archive_signing={"enabled": False},
    )
    container = Container(settings, clock=FrozenClock(NOW))
    assert container.worker.signer(NOW) is None
    with TestClient(create_app(container)) as client:
        assert client.get("/.well-known/jwks.json").json() == {"keys": []}
    assert not (tmp_path / "signing-keys").exists()
