"""The signing key store on a real directory: first use, file modes, rotation, grace, replicas, a PEM key."""

from __future__ import annotations

import io
import json
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dsar.engine.archive import build_archive
from dsar.engine.results import ArchiveMeta
from dsar.kit.jws import JwsError, PublicKey, SigningKey, thumbprint
from dsar.signing.keys import KeyStore, SigningKeyError
from dsar.signing.verify import ArchiveInvalid, verify_archive

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _store(tmp: Path, **kw: object) -> KeyStore:
    return KeyStore(tmp / "keys", lifetime=10 * DAY, grace=30 * DAY, **kw)  # type: ignore[arg-type]


def _signed(key: SigningKey, when: datetime) -> bytes:
    meta = ArchiveMeta("t-1", "j***@example.com", when, when, "dsar test", signer=key)
    return b"".join(build_archive([], [], meta))


def test_rfc_8037_key_and_rfc_7638_thumbprint() -> None:
    """The Ed25519 example key of RFC 8037 A.1-A.3: x from d, and its thumbprint."""
    jwk = {
        "kty": "OKP",
        "crv": "Ed25519",
        "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
        "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
    }
    key = SigningKey.from_jwk(jwk)
    assert key.kid == thumbprint(key.private.public_key()) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    assert key.public.jwk()["x"] == jwk["x"]
    with pytest.raises(JwsError):
        SigningKey.from_jwk(jwk | {"x": SigningKey.generate().public.jwk()["x"]})


def test_first_use_generates_a_private_key_file_only_its_owner_reads(tmp_path: Path) -> None:
    store = _store(tmp_path)
    assert store.published(T0 - DAY * 0) and (tmp_path / "keys").is_dir()
    key = store.signer(T0)
    assert store.signer(T0 + DAY) == key  # the same key until it rotates
    files = sorted((tmp_path / "keys").glob("*.json"))
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    doc = json.loads(files[0].read_text())
    assert doc["kid"] == key.kid and doc["d"] and doc["nbf"] == int(T0.timestamp())
    assert doc["exp"] == int((T0 + 10 * DAY).timestamp())
    assert _store(tmp_path).signer(T0) == key  # another process of the deployment reads the same key
    jwks = store.jwks(T0)
    assert [k["kid"] for k in jwks["keys"]] == [key.kid]
    assert "d" not in jwks["keys"][0]
    assert {k: jwks["keys"][0][k] for k in ("kty", "crv", "use", "alg")} == {
        "kty": "OKP",
        "crv": "Ed25519",
        "use": "sig",
        "alg": "EdDSA",
    }


def test_replicas_starting_together_make_one_key(tmp_path: Path) -> None:
    kids: list[str] = []
    start = threading.Barrier(4)

    def first_use() -> None:
        start.wait()
        kids.append(_store(tmp_path).signer(T0).kid)

    threads = [threading.Thread(target=first_use) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(kids)) == 1 and len(kids) == 4
    assert len(list((tmp_path / "keys").glob("*.json"))) == 1


def test_rotation_publishes_the_next_key_before_it_signs_and_keeps_the_old_one(tmp_path: Path) -> None:
    store = _store(tmp_path)
    old = store.signer(T0)
    archive = _signed(old, T0 + DAY)
    almost = T0 + 9 * DAY + timedelta(hours=12)  # within a day of the end: the successor is made and published
    assert store.signer(almost) == old
    successor = [k for k in store.published(almost) if k.kid != old.kid]
    assert len(successor) == 1 and successor[0].not_before == old.not_after
    new = store.signer(old.not_after)  # it signs from its start
    assert new.kid == successor[0].kid and new.kid != old.kid
    assert store.signer(old.not_after - timedelta(seconds=1)) == old

    # An archive signed with the previous key verifies while that key is published...
    later = old.not_after + 20 * DAY
    published = store.published(later)
    assert old.kid in {k.kid for k in published}
    assert verify_archive(io.BytesIO(archive), published).kid == old.kid
    assert verify_archive(io.BytesIO(_signed(store.signer(later), later)), published).kid != old.kid
    # ...and not once its window ended longer ago than the grace period.
    gone = store.published(old.not_after + 31 * DAY)
    assert old.kid not in {k.kid for k in gone}
    with pytest.raises(ArchiveInvalid, match="unknown key"):
        verify_archive(io.BytesIO(archive), gone)
    # The old key cannot sign an archive dated after its window, even if someone tries.
    with pytest.raises(ArchiveInvalid, match="not valid when"):
        verify_archive(io.BytesIO(_signed(old, later)), published)


def test_a_configured_pem_key_signs_and_nothing_is_generated(tmp_path: Path) -> None:
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    escaped = pem.replace("\n", "\\n")  # as one line of an environment file
    configured = SigningKey.from_pem(escaped, T0, T0 + 100 * DAY)
    store = _store(tmp_path, generate=False, configured=configured)
    assert store.signer(T0 + DAY).kid == thumbprint(private.public_key())
    assert not (tmp_path / "keys").exists()
    retired = SigningKey.generate(T0 - 50 * DAY, T0)
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "retired.json").write_text(json.dumps(retired.public.jwk()))  # a public key only
    assert [k.kid for k in store.published(T0 + DAY)] == [retired.kid, configured.kid]
    with pytest.raises(SigningKeyError, match="not valid now"):
        store.signer(T0 + 101 * DAY)
    with pytest.raises(JwsError):
        SigningKey.from_pem("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----")


def test_no_generation_and_no_key_is_an_error_not_a_silent_unsigned_archive(tmp_path: Path) -> None:
    store = _store(tmp_path, generate=False)
    assert store.published(T0) == []
    with pytest.raises(SigningKeyError, match="no archive signing key"):
        store.signer(T0)
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "broken.json").write_text("{not json")
    with pytest.raises(SigningKeyError, match=r"broken\.json"):
        store.published(T0)


def test_public_key_window() -> None:
    key = PublicKey("k", SigningKey.generate().private.public_key(), T0, T0 + DAY)
    assert key.valid_at(T0) and not key.valid_at(T0 + DAY) and not key.valid_at(T0 - timedelta(seconds=1))
    assert PublicKey.from_jwk(key.jwk()) == key
