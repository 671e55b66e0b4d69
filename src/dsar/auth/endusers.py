"""End-user bearer tokens: a person (by e-mail) acting through an app, with the scopes they granted.

Used by the Data Portability face (scopes = portability scope ids) and the Open Data Rights face
(scope `open-data-request-api`). Tokens signed by this server are HS256 JWTs with a key derived from
the master key; tokens of the company's identity provider (DSAR_IDP__*) are verified against its JWKS: RS/ES
signatures, issuer, audience, expiry; the e-mail comes from the `email` claim (refused when
`email_verified` is false), scopes from `scope` or `scp`, the app from `client_id` or `azp`.

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
from dsar.errors import Unauthenticated
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
    issued_at: int | None = None  # `iat` (seconds): a revocation refuses tokens issued until it


@dataclass(frozen=True)
class IdentityProvider:
    """The company's identity provider, whose RS256/ES256 tokens dsar accepts for end users."""

    issuer: str
    audience: str
    jwks_url: str
    email_claim: str = "email"


class EndUserTokens:
    def __init__(self, *, key: bytes, clock: Clock, idp: IdentityProvider | None = None) -> None:
        self.key, self.clock, self.idp = key, clock, idp
        self._jwks = jwt.PyJWKClient(idp.jwks_url, cache_keys=True, lifespan=300) if idp else None

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
        if self.idp is not None and authorization:
            token = authorization.strip().partition(" ")[2].strip()
            try:
                alg = jwt.get_unverified_header(token).get("alg", "")
            except jwt.PyJWTError:
                alg = ""
            if alg in ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256"):
                return self._verify_idp(token)
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
            issued_at=_iat(claims),
        )

    def _verify_idp(self, token: str) -> EndUser:
        assert self.idp is not None and self._jwks is not None
        invalid = Unauthenticated("The security token included in the request is invalid.", code="invalid")
        try:
            key = self._jwks.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"],
                audience=self.idp.audience,
                issuer=self.idp.issuer,
                options={"require": ["exp", "iss", "aud"], "verify_exp": False, "verify_iat": False},
            )
        except (jwt.PyJWTError, jwt.PyJWKClientError):
            raise invalid from None
        if int(claims["exp"]) <= int(self.clock.now().timestamp()):
            raise Unauthenticated("The security token included in the request is expired.", code="expired")
        email = claims.get(self.idp.email_claim)
        if not isinstance(email, str) or "@" not in email or claims.get("email_verified") is False:
            raise invalid
        raw_scopes = claims.get("scope", claims.get("scp", ""))
        scopes = raw_scopes.split() if isinstance(raw_scopes, str) else [str(x) for x in raw_scopes or []]
        transfer = claims.get("transfer")
        return EndUser(
            subject=email.strip().lower(),
            client_id=str(claims.get("client_id") or claims.get("azp") or ""),
            scopes=frozenset(scopes),
            token_id=str(claims.get("jti", "")),
            transfer=dict(transfer) if isinstance(transfer, dict) else {},
            issued_at=_iat(claims),
        )


def _iat(claims: dict[str, Any]) -> int | None:
    iat = claims.get("iat")
    return int(iat) if isinstance(iat, int | float) and not isinstance(iat, bool) else None
