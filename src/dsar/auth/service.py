"""API clients, the client-credentials grant, and access-token verification."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from sqlalchemy import select

from dsar.auth.bearer import bearer_claims
from dsar.auth.models import ApiClient
from dsar.db.engine import Database
from dsar.errors import InvalidInput, NotFound
from dsar.kit.clock import Clock

KNOWN_SCOPES = frozenset({"privacy:manage", "files:manage"})
ISSUER = "dsar"
AUDIENCE = "dsar-api"


@dataclass(frozen=True)
class ClientView:
    """An API client as the console lists it (never its secret)."""

    id: str
    name: str
    tenant: str
    scopes: str
    created_at: datetime
    disabled_at: datetime | None


@dataclass(frozen=True)
class Principal:
    client_id: str
    tenant: str
    scopes: frozenset[str]


TENANT = re.compile(r"[A-Za-z0-9._-]{1,64}")


class OAuthError(Exception):
    """An RFC 6749 §5.2 error: `error` code, description, HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


def _hash_secret(secret: str) -> str:
    # Secrets are 256-bit random values, not passwords: a fast hash is enough and keeps /token cheap.
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


# Verified access tokens, by their Authorization header: a back office sends the same token with every
# request for its 15 minutes, and verifying it (base64, JSON, HMAC, claim checks) costs ~4 % of a query.
# Only the signature and claims are remembered; expiry is checked against the clock at every request.
_VERIFIED_MAX = 4096


class AuthService:
    def __init__(self, *, db: Database, key: bytes, clock: Clock, token_ttl_seconds: int = 900) -> None:
        self.db, self.key, self.clock, self.ttl = db, key, clock, token_ttl_seconds
        self._verified: dict[str, tuple[Principal, int]] = {}

    def create_client(self, name: str, scopes: list[str], tenant: str = "default") -> tuple[str, str]:
        unknown = sorted(set(scopes) - KNOWN_SCOPES)
        if unknown:
            raise InvalidInput(f"unknown scope(s) {', '.join(unknown)}; use {', '.join(sorted(KNOWN_SCOPES))}")
        if not name.strip():
            raise InvalidInput("the client needs a name")
        if not TENANT.fullmatch(tenant):
            # dsar keeps tenants of its own for portability apps (`adp:<app>`) and people (`odr:<subject>`): a
            # client in one of them would read that app's or person's tasks. Client tenants have no colon.
            raise InvalidInput(
                f"tenant {tenant!r} is not allowed; use 1-64 letters, digits, '.', '_' or '-' (no ':', which dsar "
                "reserves for its own tenants)"
            )
        client_id = "dsar_" + secrets.token_hex(12)
        secret = secrets.token_urlsafe(32)
        with self.db.session() as s:
            s.add(
                ApiClient(
                    id=client_id,
                    name=name.strip(),
                    tenant=tenant,
                    secret_hash=_hash_secret(secret),
                    scopes=" ".join(sorted(set(scopes))),
                    created_at=self.clock.now(),
                )
            )
        return client_id, secret

    def clients(self) -> list[ClientView]:
        """Every API client, newest first (the console's integrations page)."""
        with self.db.session(write=False) as s:
            rows = s.scalars(select(ApiClient).order_by(ApiClient.created_at.desc(), ApiClient.id)).all()
            return [ClientView(r.id, r.name, r.tenant, r.scopes, r.created_at, r.disabled_at) for r in rows]

    def rotate_secret(self, client_id: str) -> str:
        """A new secret for the client (shown once); the old one stops getting tokens at once. Tokens issued
        before keep working until they expire (DSAR_TOKEN_TTL_SECONDS)."""
        secret = secrets.token_urlsafe(32)
        with self.db.session() as s:
            client = s.get(ApiClient, client_id)
            if client is None or client.disabled_at is not None:
                raise NotFound("no such API client")
            client.secret_hash = _hash_secret(secret)
        return secret

    def revoke_client(self, client_id: str) -> None:
        """The client gets no more tokens; the ones it holds expire within DSAR_TOKEN_TTL_SECONDS."""
        with self.db.session() as s:
            client = s.get(ApiClient, client_id)
            if client is None:
                raise NotFound("no such API client")
            if client.disabled_at is None:
                client.disabled_at = self.clock.now()
        self._verified.clear()

    def issue_token(self, client_id: str, client_secret: str, scope: str | None) -> dict[str, object]:
        with self.db.session(write=False) as s:
            client = s.scalar(select(ApiClient).where(ApiClient.id == client_id))
        valid = (
            client is not None
            and client.disabled_at is None
            and hmac.compare_digest(client.secret_hash, _hash_secret(client_secret))
        )
        if not valid or client is None:
            raise OAuthError("invalid_client", "Client authentication failed.", 401)
        granted = set(client.scopes.split())
        if scope:
            asked = set(scope.split())
            if not asked <= granted:
                raise OAuthError("invalid_scope", "The requested scope exceeds the scope granted to the client.")
            granted = asked
        now = self.clock.now()
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": client.id,
            "ten": client.tenant,
            "typ": "client",
            "scope": " ".join(sorted(granted)),
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(seconds=self.ttl)).timestamp()),
            "jti": secrets.token_hex(8),
        }
        token = jwt.encode(claims, self.key, algorithm="HS256")
        return {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": self.ttl,
            "scope": claims["scope"],
        }

    def authenticate(self, authorization: str | None) -> Principal:
        """The principal of an `Authorization: Bearer` header; Unauthenticated(code missing|invalid|expired)."""
        now = self.clock.now()
        known = self._verified.get(authorization) if authorization else None
        if known is not None and known[1] > int(now.timestamp()):
            return known[0]
        claims = bearer_claims(authorization, self.key, issuer=ISSUER, audience=AUDIENCE, typ="client", now=now)
        principal = Principal(
            str(claims["sub"]), str(claims.get("ten", "default")), frozenset(str(claims.get("scope", "")).split())
        )
        if authorization:
            if len(self._verified) >= _VERIFIED_MAX:
                self._verified.clear()  # bounded; tokens in use are verified again once
            self._verified[authorization] = (principal, int(claims["exp"]))
        return principal
