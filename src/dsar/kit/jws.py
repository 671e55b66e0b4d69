"""Ed25519 keys as JWKs and detached compact JWS (RFC 7515 + RFC 7797 `b64: false`): pure, no I/O.

A detached signature over bytes P is `BASE64URL(header) + ".." + BASE64URL(sig)`, where `sig` is the Ed25519
signature of `ASCII(BASE64URL(header)) || "." || P` (the payload is not encoded, RFC 7797), and the header
says so: `{"alg":"EdDSA","b64":false,"crit":["b64"],"iat":..,"kid":..}`. Ed25519 is deterministic, so the
same key, payload and time give the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "DetachedJws",
    "JwsError",
    "ManifestSigner",
    "PublicKey",
    "SigningKey",
    "b64url",
    "b64url_decode",
    "parse_detached",
    "private_from_pem",
    "thumbprint",
]


class JwsError(ValueError):
    """A malformed JWS, JWK or key."""


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    if not isinstance(text, str) or any(c in text for c in "+/="):
        raise JwsError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise JwsError("not base64url") from exc


def _canonical(doc: dict[str, Any]) -> bytes:
    """Sorted keys, no whitespace: the form RFC 7638 thumbprints and our headers use."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def thumbprint(key: Ed25519PublicKey) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url) of an Ed25519 public key: the key id."""
    members = {"crv": "Ed25519", "kty": "OKP", "x": b64url(_raw_public(key))}
    return b64url(hashlib.sha256(_canonical(members)).digest())


def _epoch(when: datetime) -> int:
    utc = when.replace(tzinfo=UTC) if when.tzinfo is None else when
    return int(utc.timestamp())


def _from_epoch(value: Any, name: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise JwsError(f"{name} must be an integer (seconds since 1970)")
    return datetime.fromtimestamp(value, UTC)


@dataclass(frozen=True)
class PublicKey:
    """An Ed25519 verification key with its id and the window in which it may sign (None: unbounded)."""

    kid: str
    key: Ed25519PublicKey
    not_before: datetime | None = None
    not_after: datetime | None = None

    def valid_at(self, when: datetime) -> bool:
        return (self.not_before is None or self.not_before <= when) and (
            self.not_after is None or when < self.not_after
        )

    def jwk(self) -> dict[str, Any]:
        """The public JWK; `nbf`/`exp` (seconds since 1970) bound when it may have signed."""
        doc: dict[str, Any] = {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": b64url(_raw_public(self.key)),
            "kid": self.kid,
            "use": "sig",
            "alg": "EdDSA",
        }
        if self.not_before is not None:
            doc["nbf"] = _epoch(self.not_before)
        if self.not_after is not None:
            doc["exp"] = _epoch(self.not_after)
        return doc

    @classmethod
    def from_jwk(cls, doc: Any) -> PublicKey:
        if not isinstance(doc, dict) or doc.get("kty") != "OKP" or doc.get("crv") != "Ed25519":
            raise JwsError("not an Ed25519 JWK (kty OKP, crv Ed25519)")
        raw = b64url_decode(doc.get("x", ""))
        if len(raw) != 32:
            raise JwsError("an Ed25519 public key has 32 bytes")
        key = Ed25519PublicKey.from_public_bytes(raw)
        kid = doc.get("kid") or thumbprint(key)
        if not isinstance(kid, str):
            raise JwsError("kid must be a string")
        return cls(kid, key, _from_epoch(doc.get("nbf"), "nbf"), _from_epoch(doc.get("exp"), "exp"))

    def verify(self, jws: DetachedJws, payload: bytes) -> bool:
        try:
            self.key.verify(jws.signature, jws.signing_input(payload))
        except InvalidSignature:
            return False
        return True


class ManifestSigner(Protocol):
    """What the archive builder needs: the key id, and a detached JWS over some bytes made at a given time."""

    @property
    def kid(self) -> str: ...

    def sign(self, payload: bytes, signed_at: datetime) -> str: ...


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 private key with its id and validity window; a `ManifestSigner`."""

    private: Ed25519PrivateKey = field(compare=False)  # the kid is its public key's thumbprint
    kid: str
    not_before: datetime | None = None
    not_after: datetime | None = None

    @classmethod
    def generate(cls, not_before: datetime | None = None, not_after: datetime | None = None) -> SigningKey:
        private = Ed25519PrivateKey.generate()
        return cls(private, thumbprint(private.public_key()), not_before, not_after)

    @property
    def public(self) -> PublicKey:
        return PublicKey(self.kid, self.private.public_key(), self.not_before, self.not_after)

    def sign(self, payload: bytes, signed_at: datetime) -> str:
        header = {"alg": "EdDSA", "b64": False, "crit": ["b64"], "iat": _epoch(signed_at), "kid": self.kid}
        protected = b64url(_canonical(header))
        signature = self.private.sign(protected.encode("ascii") + b"." + payload)
        return f"{protected}..{b64url(signature)}"

    @classmethod
    def from_pem(cls, pem: str, not_before: datetime | None = None, not_after: datetime | None = None) -> SigningKey:
        private = private_from_pem(pem)
        return cls(private, thumbprint(private.public_key()), not_before, not_after)

    def private_jwk(self) -> dict[str, Any]:
        raw = self.private.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return self.public.jwk() | {"d": b64url(raw)}

    @classmethod
    def from_jwk(cls, doc: Any) -> SigningKey:
        public = PublicKey.from_jwk(doc)
        raw = b64url_decode(doc.get("d", ""))
        if len(raw) != 32:
            raise JwsError("an Ed25519 private key has 32 bytes")
        private = Ed25519PrivateKey.from_private_bytes(raw)
        if _raw_public(private.public_key()) != _raw_public(public.key):
            raise JwsError("the JWK's d and x do not belong together")
        return cls(private, public.kid, public.not_before, public.not_after)


def private_from_pem(pem: str) -> Ed25519PrivateKey:
    """An Ed25519 private key from PEM (PKCS#8, unencrypted), e.g. `openssl genpkey -algorithm ed25519`."""
    try:
        text = pem.strip().replace("\\n", "\n")  # a PEM in one environment line may have its newlines escaped
        key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise JwsError("not an unencrypted PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise JwsError("the PEM key is not an Ed25519 key")
    return key


@dataclass(frozen=True)
class DetachedJws:
    """A parsed detached compact JWS with the unencoded-payload option."""

    protected: str  # the header exactly as serialised (base64url)
    header: dict[str, Any]
    signature: bytes

    @property
    def kid(self) -> str:
        kid = self.header.get("kid")
        return kid if isinstance(kid, str) else ""

    @property
    def signed_at(self) -> datetime | None:
        return _from_epoch(self.header.get("iat"), "iat")

    def signing_input(self, payload: bytes) -> bytes:
        return self.protected.encode("ascii") + b"." + payload


def parse_detached(token: str) -> DetachedJws:
    """Parse `header..signature`; the header must be EdDSA with `b64: false` marked critical."""
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[1] != "":
        raise JwsError("not a detached compact JWS (header..signature)")
    try:
        header = json.loads(b64url_decode(parts[0]))
    except ValueError as exc:
        raise JwsError("the JWS header is not JSON") from exc
    if not isinstance(header, dict):
        raise JwsError("the JWS header is not an object")
    if header.get("alg") != "EdDSA":
        raise JwsError(f"unsupported JWS alg {header.get('alg')!r} (expected EdDSA)")
    if header.get("b64") is not False or header.get("crit") != ["b64"]:
        raise JwsError("the JWS header must carry b64: false and crit: [b64] (RFC 7797)")
    _from_epoch(header.get("iat"), "iat")
    return DetachedJws(parts[0], header, b64url_decode(parts[2]))
