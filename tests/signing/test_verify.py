"""The archive verifier on real signed zips: what passes, and every kind of tampering it must catch.

Archives are built by the real builder from real spool files and signed with real Ed25519 keys; tampered
copies are rewritten with zipfile, as someone editing an archive would.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from dsar.engine.archive import build_archive
from dsar.engine.results import ArchiveMeta, CollectionResult, ColumnInfo, SourceReport
from dsar.kit.jws import PublicKey, SigningKey
from dsar.signing.verify import ArchiveInvalid, manifest_schema, parse_jwks, verify_archive

WHEN = datetime(2026, 3, 4, 5, 6, 8, tzinfo=UTC)
META = ArchiveMeta(
    task_id="3f0c6a2e-0d7e-4c4b-9a51-0d2b1f7f4a10",
    subject_masked="j***@example.com",
    generated_at=WHEN,
    data_as_of=WHEN,
    generator="dsar test",
    company="Example Shop",
    public_url="https://privacy.example.com/",
)
CUSTOMERS = [
    {"id": 1, "email": "jane.doe@example.com", "vip": True, "balance": -12.5, "prefs": {"a": [1]}, "note": None},
    {"id": 2, "email": "jane.doe@example.com", "vip": False, "balance": 3, "prefs": None, "note": "=1+1"},
]
ORDERS = [{"id": 10, "customer_id": 1, "total": "19.99"}, {"id": 11, "customer_id": 2, "total": "-5.00"}]


def _key(start: datetime = WHEN - timedelta(days=1), days: int = 90) -> SigningKey:
    return SigningKey.generate(start, start + timedelta(days=days))


def _result(tmp: Path, name: str, rows: list[dict[str, Any]], cols: dict[str, Any]) -> CollectionResult:
    spool = tmp / f"{name}.jsonl"
    spool.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return CollectionResult(
        key=f"shop.{name}",
        source="shop",
        name=name,
        description=name,
        columns=[ColumnInfo(c, s) for c, s in cols.items()],
        processing={},
        spool=spool,
        records=len(rows),
        status="found",
    )


def _archive(tmp: Path, key: SigningKey | None, **meta: Any) -> bytes:
    results = [
        _result(
            tmp,
            "customers",
            CUSTOMERS,
            {
                "id": {"type": "integer"},
                "email": {"type": "string"},
                "vip": {"type": "boolean"},
                "balance": {"type": "number"},
                "prefs": {"type": ["object", "null"]},
                "note": {"type": ["string", "null"]},
            },
        ),
        _result(tmp, "orders", ORDERS, {"id": {"type": "integer"}, "customer_id": {"type": "integer"}, "total": {}}),
    ]
    sources = [SourceReport("shop", "The shop", "found", records=4, collections=["shop.customers", "shop.orders"])]
    return b"".join(build_archive(results, sources, replace(META, signer=key, **meta)))


def _members(blob: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return out.getvalue()


def _resign(members: dict[str, bytes], key: SigningKey, when: datetime = WHEN) -> dict[str, bytes]:
    """What a forger does: recompute every checksum in the manifest and sign it again with a key of theirs."""
    manifest = json.loads(members["manifest.json"])
    for f in manifest["files"]:
        content = members[f["path"]]
        f["size"], f["sha256"] = len(content), hashlib.sha256(content).hexdigest()
    manifest["signature"]["kid"] = key.kid
    body = json.dumps(manifest, indent=2).encode()
    return members | {"manifest.json": body, "manifest.sig": key.sign(body, when).encode()}


def _fails(blob: bytes, keys: list[PublicKey], *words: str) -> str:
    with pytest.raises(ArchiveInvalid) as caught:
        verify_archive(io.BytesIO(blob), keys)
    message = caught.value.message
    for word in words:
        assert word in message, message
    assert "\n" not in message and "Traceback" not in message
    return message


def test_a_genuine_archive_verifies(tmp_path: Path) -> None:
    key = _key()
    blob = _archive(tmp_path, key)
    result = verify_archive(io.BytesIO(blob), [_key().public, key.public])
    assert (result.format_version, result.kid, result.signed_at) == ("1.1", key.kid, WHEN)
    assert result.records == len(CUSTOMERS) + len(ORDERS)
    assert result.members == len(_members(blob))


def test_signed_archive_layout_and_manifest(tmp_path: Path) -> None:
    key = _key()
    members = _members(_archive(tmp_path, key))
    names = list(members)
    assert names[names.index("manifest.json") + 1] == "manifest.sig"
    assert names[-2:] == ["index.html", "README.txt"]
    manifest = json.loads(members["manifest.json"])
    assert manifest["format_version"] == "1.1"
    assert manifest["signature"] == {
        "member": "manifest.sig",
        "alg": "EdDSA",
        "kid": key.kid,
        "jwks_url": "https://privacy.example.com/.well-known/jwks.json",
    }
    assert {f["path"] for f in manifest["files"]} == set(names) - {"manifest.json", "manifest.sig"}
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(manifest_schema())
    Draft202012Validator(manifest_schema()).validate(manifest)
    page = members["index.html"].decode()
    assert "Check that this file is genuine" in page and key.kid in page
    assert "https://privacy.example.com/.well-known/jwks.json" in page
    assert "dsar archive verify data_retrieval.zip --jwks https://privacy.example.com/.well-known/jwks.json" in page
    readme = members["README.txt"].decode()
    assert "manifest.sig" in readme and key.kid in readme


def test_signed_archives_are_byte_identical_for_the_same_inputs_and_key(tmp_path: Path) -> None:
    key = _key()
    assert _archive(tmp_path, key) == _archive(tmp_path, key)
    assert _archive(tmp_path, key) != _archive(tmp_path, _key())


def test_an_independent_verifier_accepts_the_signature(tmp_path: Path) -> None:
    """PyJWT (RFC 7797 detached payload) and `cryptography` directly, from the published JWK alone."""
    key = _key()
    members = _members(_archive(tmp_path, key))
    jwk = key.public.jwk()
    token = members["manifest.sig"].decode()
    decoded = jwt.api_jws.decode_complete(
        token, jwt.PyJWK(jwk).key, algorithms=["EdDSA"], detached_payload=members["manifest.json"]
    )
    assert decoded["header"]["kid"] == jwk["kid"] == key.kid
    assert decoded["header"]["iat"] == int(WHEN.timestamp())

    header_b64, _, sig_b64 = token.split(".")
    public = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(jwk["x"] + "="))
    public.verify(base64.urlsafe_b64decode(sig_b64 + "=="), header_b64.encode() + b"." + members["manifest.json"])
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.api_jws.decode_complete(
            token, jwt.PyJWK(jwk).key, algorithms=["EdDSA"], detached_payload=members["manifest.json"] + b" "
        )


def test_an_edited_row_is_caught(tmp_path: Path) -> None:
    key = _key()
    members = _members(_archive(tmp_path, key))
    csv_text = members["data/shop/customers.csv"]
    assert b"-12.5" in csv_text
    edited = members | {"data/shop/customers.csv": csv_text.replace(b"-12.5", b"-13.5")}
    _fails(_zip(edited), [key.public], "data/shop/customers.csv", "SHA-256")
    json_rows = members["data/shop/orders.json"].replace(b'"19.99"', b'"19.90"')
    _fails(_zip(members | {"data/shop/orders.json": json_rows}), [key.public], "data/shop/orders.json")


def test_a_removed_file_is_caught(tmp_path: Path) -> None:
    key = _key()
    members = _members(_archive(tmp_path, key))
    del members["data/shop/orders.json"]
    _fails(_zip(members), [key.public], "data/shop/orders.json", "missing")


def test_an_added_file_is_caught(tmp_path: Path) -> None:
    key = _key()
    members = _members(_archive(tmp_path, key)) | {"data/shop/extra.json": b"[]\n"}
    _fails(_zip(members), [key.public], "data/shop/extra.json", "not listed")


def test_an_unsigned_or_edited_manifest_is_caught(tmp_path: Path) -> None:
    key = _key()
    members = _members(_archive(tmp_path, key))
    manifest = members["manifest.json"].replace(b'"dsar test"', b'"dsar TEST"')
    _fails(_zip(members | {"manifest.json": manifest}), [key.public], "does not match", "manifest.json")
    unsigned = {n: c for n, c in members.items() if n != "manifest.sig"}
    _fails(_zip(unsigned), [key.public], "not signed")
    _fails(_archive(tmp_path, None), [key.public], "not signed")


def test_a_manifest_re_signed_with_an_unknown_key_is_caught(tmp_path: Path) -> None:
    key, forger = _key(), _key()
    members = _members(_archive(tmp_path, key))
    edited = members | {"data/shop/orders.csv": members["data/shop/orders.csv"].replace(b"19.99", b"0.01")}
    forged = _resign(edited, forger)
    verify_archive(io.BytesIO(_zip(forged)), [forger.public])  # consistent in itself...
    _fails(_zip(forged), [key.public], "unknown key", forger.kid)  # ...but not by a published key
    # A forger who claims the genuine key id: the signature does not match that key.
    spoofed = SigningKey(forger.private, key.kid, forger.not_before, forger.not_after)
    _fails(_zip(_resign(edited, spoofed)), [key.public], "does not match")


def test_an_expired_or_not_yet_valid_key_is_caught(tmp_path: Path) -> None:
    expired = _key(WHEN - timedelta(days=100), days=90)  # its window ended ten days before the archive
    message = _fails(_archive(tmp_path, expired), [expired.public], "not valid when the archive was signed")
    assert "until 2026-02-22" in message
    future = _key(WHEN + timedelta(days=1))
    _fails(_archive(tmp_path, future), [future.public], "not valid")


def test_data_that_breaks_its_schema_is_caught_even_when_signed(tmp_path: Path) -> None:
    key = _key()
    members = _members(_archive(tmp_path, key))
    rows = json.loads(members["data/shop/customers.json"])
    rows[1]["id"] = "two"
    json_body = json.dumps(rows).encode()
    forged = _resign(members | {"data/shop/customers.json": json_body}, key)
    _fails(_zip(forged), [key.public], "data/shop/customers.json", "row 2", "schema")

    csv_body = members["data/shop/customers.csv"].replace(b"\r\n2,", b"\r\nx,")
    forged = _resign(members | {"data/shop/customers.csv": csv_body}, key)
    _fails(_zip(forged), [key.public], "data/shop/customers.csv", "row 2", "column id")

    header = members["data/shop/orders.csv"].replace(b"id,customer_id,total", b"id,customer,total")
    _fails(_zip(_resign(members | {"data/shop/orders.csv": header}, key)), [key.public], "header")

    fewer = json.dumps(json.loads(members["data/shop/orders.json"])[:1]).encode()
    _fails(_zip(_resign(members | {"data/shop/orders.json": fewer}, key)), [key.public], "1 records", "says 2")


def test_not_a_zip_and_a_broken_manifest(tmp_path: Path) -> None:
    key = _key()
    _fails(b"not a zip at all", [key.public], "not a readable ZIP")
    members = _members(_archive(tmp_path, key))
    manifest = json.loads(members["manifest.json"])
    del manifest["files"][0]["sha256"]
    body = json.dumps(manifest).encode()
    broken = members | {"manifest.json": body, "manifest.sig": key.sign(body, WHEN).encode()}
    _fails(_zip(broken), [key.public], "does not follow its schema", "sha256")


def test_parse_jwks_takes_ed25519_keys_only() -> None:
    key = _key()
    rsa = {"kty": "RSA", "kid": "r", "n": "AQAB", "e": "AQAB"}
    keys = parse_jwks({"keys": [rsa, key.public.jwk()]})
    assert [k.kid for k in keys] == [key.kid]
    assert keys[0].not_before == key.not_before and keys[0].not_after == key.not_after
    with pytest.raises(ArchiveInvalid):
        parse_jwks({"nokeys": []})
