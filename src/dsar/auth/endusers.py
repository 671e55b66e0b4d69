"""End-user bearer tokens: a person (by e-mail) acting through an app, with the scopes they granted.

Used by the Data Portability face (scopes = portability scope ids) and the Open Data Rights face
(scope `open-data-request-api`). Tokens signed by this server are HS256 JWTs with a key derived from
the master key; tokens of the company's identity provider are verified against its JWKS (added by the
portability work).

Claims: iss=dsar, aud=dsar-enduser, typ=enduser, sub=<e-mail>, client_id=<app id>, scope=<space separated>,
iat, exp, jti, and optional `transfer` preferences: {"history_days": N} or {"history_since": "YYYY-MM-DD"},
plus {"grant": "once" | "30d" | "90d" | "180d" | "365d"}.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import jwt

from dsar.auth.bearer import bearer_claims
from dsar.kit.clock import Clock

ISSUER = "dsar"
AUDIENCE = "dsar-enduser"
ODR_SCOPE = "open-data-request-api"


@dataclass(frozen=True)
class EndUser:
    subject: str  # the person's e-mail, trimmed and lower-cased
    client_id: str  # the app acting for them
    scopes: frozenset[str]
    token_id: str
    transfer: dict[str, Any] = field(default_factory=dict)


class EndUserTokens:
    def __init__(self, key: bytes, clock: Clock) -> None:
        self.key, self.clock = key, clock

    def issue(
        self,
        subject: str,
        scopes: list[str],
        client_id: str = "dsar-cli",
        ttl_seconds: int = 3600,
        transfer: dict[str, Any] | None = None,
    ) -> str:
        now = self.clock.now()
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "typ": "enduser",
            "sub": subject.strip().lower(),
            "client_id": client_id,
            "scope": " ".join(sorted(set(scopes))),
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(seconds=ttl_seconds)).timestamp()),
            "jti": secrets.token_hex(12),
        }
        if transfer:
            claims["transfer"] = transfer
        return jwt.encode(claims, self.key, algorithm="HS256")

    def verify(self, authorization: str | None) -> EndUser:
        """The end user of an `Authorization: Bearer` header; Unauthenticated(code missing|invalid|expired)."""
        claims = bearer_claims(
            authorization, self.key, issuer=ISSUER, audience=AUDIENCE, typ="enduser", now=self.clock.now()
        )
        transfer = claims.get("transfer")
        return EndUser(
            subject=str(claims["sub"]),
            client_id=str(claims.get("client_id", "")),
            scopes=frozenset(str(claims.get("scope", "")).split()),
            token_id=str(claims.get("jti", "")),
            transfer=dict(transfer) if isinstance(transfer, dict) else {},
        )
