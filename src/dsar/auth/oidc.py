"""A confidential client of the company's OpenID Connect provider, to sign people in (ODR, the privacy center).

Authorization code flow with PKCE (S256), a nonce and the state of our own sign-in; the ID token is verified
against the provider's JWKS (signature, issuer, audience, expiry, nonce), and its `email` must be verified.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]


class OidcError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OidcClient:
    def __init__(
        self, *, issuer: str, client_id: str, client_secret: str, redirect_uri: str, timeout: float = 10
    ) -> None:
        self.issuer, self.client_id, self.client_secret = issuer.rstrip("/"), client_id, client_secret
        self.redirect_uri, self.timeout = redirect_uri, timeout
        self._lock = threading.Lock()
        self._meta: dict[str, Any] | None = None
        self._jwks: jwt.PyJWKClient | None = None

    def metadata(self) -> dict[str, Any]:
        with self._lock:
            if self._meta is None:
                try:
                    r = httpx.get(self.issuer + "/.well-known/openid-configuration", timeout=self.timeout)
                    r.raise_for_status()
                    meta = r.json()
                except (httpx.HTTPError, ValueError):
                    raise OidcError("discovery") from None
                if not isinstance(meta, dict) or meta.get("issuer", "").rstrip("/") != self.issuer:
                    raise OidcError("discovery_issuer")
                self._meta = meta
                self._jwks = jwt.PyJWKClient(str(meta["jwks_uri"]), timeout=int(self.timeout))
            return self._meta

    def authorization_url(self, state: str, nonce: str, challenge: str) -> str:
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": "openid email",
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        return str(self.metadata()["authorization_endpoint"]) + "?" + urlencode(params)

    def verified_email(self, code: str, verifier: str, nonce: str) -> str:
        meta = self.metadata()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "code_verifier": verifier,
        }
        try:
            r = httpx.post(str(meta["token_endpoint"]), data=form, timeout=self.timeout)
            r.raise_for_status()
            id_token = str(r.json()["id_token"])
        except (httpx.HTTPError, ValueError, KeyError):
            raise OidcError("token_exchange") from None
        assert self._jwks is not None
        try:
            key = self._jwks.get_signing_key_from_jwt(id_token)
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key.key,
                algorithms=_ALGORITHMS,
                audience=self.client_id,
                issuer=str(meta["issuer"]),
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError:
            raise OidcError("id_token") from None
        if claims.get("nonce") != nonce:
            raise OidcError("nonce")
        email = claims.get("email")
        if not isinstance(email, str) or "@" not in email or claims.get("email_verified") is False:
            raise OidcError("email")
        return email
