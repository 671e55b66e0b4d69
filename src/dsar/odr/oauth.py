"""OAuth 2 for the Open Data Rights API: authorization code + PKCE (S256), one public client, refresh tokens.

The person proves their e-mail address with a one-time code sent to it. Everything secret is stored as a
keyed hash: the e-mailed code, the authorization code, refresh tokens. Brute force is bounded per sign-in
(`code_attempts` wrong codes) and per address (`codes_per_hour` e-mails).

Errors: `PageError` (a bad client or redirect URI: shown on the page, never redirected, RFC 6749 §4.1.2.1),
`RedirectError` (other authorization errors, sent back to the client), `OAuthError` (token endpoint, §5.2).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from dsar import log
from dsar.auth.endusers import ODR_SCOPE, EndUserTokens
from dsar.auth.oidc import OidcClient, OidcError
from dsar.db.engine import Database
from dsar.kit.clock import Clock
from dsar.kit.signing import keyed_hash
from dsar.odr import repository as repo
from dsar.odr.mail import Mailer, code_message
from dsar.odr.models import OdrRefreshToken, OdrSignIn
from dsar.odr.settings import OdrSettings

_log = log.get("dsar.odr.oauth")
SIGN_IN_TTL = timedelta(minutes=30)
_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
_EMAIL = re.compile(r"^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+[.][a-zA-Z]{2,}$")
_UNSAFE_SCHEMES = frozenset({"javascript", "data", "vbscript", "file", "blob", "about", "filesystem"})
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


class PageError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RedirectError(Exception):
    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


@dataclass(frozen=True)
class SignInPage:
    """What the authorize page shows: the step, the app asking, and a message."""

    id: str
    step: str  # "email" | "code" | "locked"
    app: str  # where the code goes: the redirect URI's host (or scheme) for the person to check
    email: str = ""
    error: str = ""
    notice: str = ""


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode("ascii")


def valid_redirect(uri: str) -> bool:
    """https anywhere, http only to loopback (RFC 8252 §7.3), or an app's private-use scheme (§7.1)."""
    if not uri or len(uri) > 2000 or any(ch.isspace() for ch in uri) or "#" in uri:
        return False
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if not scheme or scheme in _UNSAFE_SCHEMES:
        return False
    if scheme == "http":
        return (parts.hostname or "") in _LOOPBACK
    if scheme == "https":
        return bool(parts.hostname)
    return bool(parts.netloc or parts.path)


def with_params(uri: str, params: Mapping[str, str | None]) -> str:
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True) + [(k, v) for k, v in params.items() if v is not None]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def app_label(uri: str) -> str:
    parts = urlsplit(uri)
    return parts.hostname or f"{parts.scheme}://{parts.netloc}"


class OdrAuth:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        key: bytes,
        endusers: EndUserTokens,
        mailer: Mailer,
        settings: OdrSettings,
        subject_ref: Callable[[str], str],
        organisation: str,
        issuer: str,
        oidc: OidcClient | None = None,
    ) -> None:
        self.db, self.clock, self.key, self.endusers, self.mailer = db, clock, key, endusers, mailer
        self.oidc = oidc
        self.s, self.subject_ref, self.organisation, self.issuer = settings, subject_ref, organisation, issuer

    def _hash(self, purpose: str, value: str) -> str:
        return keyed_hash(self.key, f"{purpose}\n{value}", 64)

    def metadata(self) -> dict[str, Any]:
        """RFC 8414 authorization server metadata."""
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/oauth/authorize",
            "token_endpoint": f"{self.issuer}/oauth/token",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "scopes_supported": [ODR_SCOPE],
            "service_documentation": f"{self.issuer}/settings",
        }

    # --- the authorize page ----------------------------------------------------------------------------------

    def begin(self, q: Mapping[str, str]) -> SignInPage:
        """Check an authorization request and open a sign-in for it."""
        redirect_uri = q.get("redirect_uri", "")
        client_id = q.get("client_id")
        plain = redirect_uri in self.s.plain_redirect_uris
        if not valid_redirect(redirect_uri):
            raise PageError("The app sent an invalid redirect address, so it cannot be signed in. Contact its maker.")
        if client_id != self.s.client_id and not (client_id is None and plain):
            raise PageError("The app did not identify itself with this organisation's Open Data Rights client id.")
        state = q.get("state")

        def fail(error: str, description: str) -> RedirectError:
            params = {"error": error, "error_description": description, "state": state}
            return RedirectError(with_params(redirect_uri, params))

        if q.get("response_type", "code" if plain else "") != "code":
            raise fail("unsupported_response_type", "Only response_type=code is supported.")
        scopes = set((q.get("scope") or ODR_SCOPE).split())
        if scopes != {ODR_SCOPE}:
            raise fail("invalid_scope", f"The only scope is {ODR_SCOPE}.")
        challenge = q.get("code_challenge")
        if challenge is None and not plain:
            raise fail("invalid_request", "PKCE is required: send code_challenge and code_challenge_method=S256.")
        if challenge is not None:
            if q.get("code_challenge_method") != "S256":
                raise fail("invalid_request", "code_challenge_method must be S256.")
            if not _CHALLENGE.fullmatch(challenge):
                raise fail("invalid_request", "code_challenge must be the base64url SHA-256 of the verifier.")
        now = self.clock.now()
        sign_in = OdrSignIn(
            id=secrets.token_urlsafe(32),
            client_id=client_id or self.s.client_id,
            redirect_uri=redirect_uri,
            code_challenge=challenge,
            state=state,
            created_at=now,
            expires_at=now + SIGN_IN_TTL,
            otp_attempts=0,
        )
        with self.db.session() as s:
            repo.add_sign_in(s, sign_in)
        return SignInPage(sign_in.id, "email", app_label(redirect_uri))

    def _open(self, s: Any, sign_in_id: str) -> OdrSignIn:
        sign_in = repo.get_sign_in(s, sign_in_id, self.clock.now(), lock=True)
        if sign_in is None or sign_in.code_hash is not None:
            raise PageError("This sign-in has expired. Go back to the app and start again.")
        return sign_in

    def send_code(self, sign_in_id: str, email: str) -> SignInPage:
        email = email.strip().lower()
        now = self.clock.now()
        with self.db.session() as s:
            sign_in = self._open(s, sign_in_id)
            app = app_label(sign_in.redirect_uri)
            if len(email) > 254 or not _EMAIL.fullmatch(email):
                return SignInPage(sign_in.id, "email", app, email, error="Enter a valid e-mail address.")
            if sign_in.otp_attempts >= self.s.code_attempts:
                return SignInPage(sign_in.id, "locked", app)
            if not repo.take_mail_budget(s, self.subject_ref(email), now, self.s.codes_per_hour):
                return SignInPage(
                    sign_in.id, "email", app, email, error="Too many codes were sent to this address. Try again later."
                )
            code = f"{secrets.randbelow(10**6):06d}"
            sign_in.email = email
            sign_in.otp_hash = self._hash("otp", f"{sign_in.id}\n{code}")
            sign_in.otp_expires_at = now + timedelta(seconds=self.s.code_ttl_seconds)
        # Sent after the commit: a failing mailer leaves a sign-in whose code nobody knows, which is harmless.
        minutes = self.s.code_ttl_seconds // 60
        self.mailer.send(code_message(self.s.mail_from, email, self.organisation, code, minutes))
        _log.info("odr_code_sent", subject=self.subject_ref(email)[:16])
        return SignInPage(sign_in_id, "code", app, email, notice=f"We sent a 6-digit code to {email}.")

    def check_code(self, sign_in_id: str, code: str) -> str | SignInPage:
        """The redirect to the app with an authorization code, or the page again (wrong code, locked)."""
        code = re.sub(r"\s+", "", code)
        now = self.clock.now()
        with self.db.session() as s:
            sign_in = self._open(s, sign_in_id)
            app = app_label(sign_in.redirect_uri)
            email = sign_in.email or ""
            if sign_in.otp_hash is None or sign_in.otp_expires_at is None:
                return SignInPage(sign_in.id, "email", app)
            if sign_in.otp_attempts >= self.s.code_attempts:
                return SignInPage(sign_in.id, "locked", app, email)
            if sign_in.otp_expires_at <= now:
                return SignInPage(sign_in.id, "email", app, email, error="The code has expired. Ask for a new one.")
            if not secrets.compare_digest(sign_in.otp_hash, self._hash("otp", f"{sign_in.id}\n{code}")):
                sign_in.otp_attempts += 1
                if sign_in.otp_attempts >= self.s.code_attempts:
                    return SignInPage(sign_in.id, "locked", app, email)
                left = self.s.code_attempts - sign_in.otp_attempts
                return SignInPage(sign_in.id, "code", app, email, error=f"That code is not right. {left} tries left.")
            return self._grant(sign_in)

    def _grant(self, sign_in: OdrSignIn) -> str:
        """Give the sign-in its single-use authorization code; the redirect back to the app."""
        auth_code = secrets.token_urlsafe(32)
        sign_in.otp_hash = None
        sign_in.oidc_state = None
        sign_in.code_hash = self._hash("code", auth_code)
        sign_in.code_expires_at = self.clock.now() + timedelta(seconds=self.s.auth_code_ttl_seconds)
        plain = sign_in.code_challenge is None
        # `token` too for the Aeon app, which reads the code from that parameter.
        params = {"code": auth_code, "state": sign_in.state, "token": auth_code if plain else None}
        return with_params(sign_in.redirect_uri, params)

    # --- the company's OpenID Connect provider --------------------------------------------------------------

    def start_oidc(self, sign_in_id: str) -> str:
        """Where to send the browser: the provider's authorization endpoint (its own state, nonce and PKCE)."""
        if self.oidc is None:
            raise PageError("Signing in with the company account is not available.")
        state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48)
        with self.db.session() as s:
            sign_in = self._open(s, sign_in_id)
            sign_in.oidc_state, sign_in.oidc_nonce, sign_in.oidc_verifier = state, nonce, verifier
        return self.oidc.authorization_url(state, nonce, s256(verifier))

    def finish_oidc(self, state: str, code: str, error: str | None) -> str:
        """The provider sent the browser back: check it, then redirect to the app with our code."""
        if self.oidc is None or not state:
            raise PageError("This sign-in has expired. Go back to the app and start again.")
        with self.db.session() as s:
            sign_in = repo.sign_in_by_oidc_state(s, state, self.clock.now())
            if sign_in is None or sign_in.code_hash is not None:
                raise PageError("This sign-in has expired. Go back to the app and start again.")
            nonce, verifier = sign_in.oidc_nonce or "", sign_in.oidc_verifier or ""
            sign_in.oidc_state = None  # single use, whatever happens next
        if error or not code:
            raise PageError("The company sign-in was cancelled or refused. Go back to the app and try again.")
        try:
            email = self.oidc.verified_email(code, verifier, nonce)
        except OidcError as exc:
            _log.warning("odr_oidc_refused", reason=exc.reason)
            raise PageError("The company sign-in could not be verified. Go back to the app and try again.") from None
        with self.db.session() as s:
            sign_in = self._open(s, sign_in.id)
            sign_in.email = email.strip().lower()
            return self._grant(sign_in)

    # --- the token endpoint ----------------------------------------------------------------------------------

    def token(self, form: Mapping[str, str]) -> dict[str, Any]:
        grant = form.get("grant_type")
        if grant is None and "code" in form:
            grant = "authorization_code"  # the Aeon app sends only `code`
        if grant == "authorization_code":
            return self._code_grant(form)
        if grant == "refresh_token":
            return self._refresh_grant(form)
        if grant is None:
            raise OAuthError("invalid_request", "grant_type is required.")
        raise OAuthError("unsupported_grant_type", "Use authorization_code or refresh_token.")

    def _code_grant(self, form: Mapping[str, str]) -> dict[str, Any]:
        code = form.get("code") or ""
        now = self.clock.now()
        # Errors are raised after the commit: a refused code stays spent, a replay's revocation stays done.
        error: OAuthError | None = None
        answer: dict[str, Any] = {}
        with self.db.session() as s:
            sign_in, fresh = repo.use_code(s, self._hash("code", code), now)
            if sign_in is None:
                error = OAuthError("invalid_grant", "The authorization code is invalid.")
            elif not fresh:
                if sign_in.code_used_at is not None:  # replayed: revoke what the first use obtained (§4.1.2)
                    repo.revoke_family(s, sign_in.id)
                error = OAuthError("invalid_grant", "The authorization code was already used or has expired.")
            else:
                error = self._check_code_grant(sign_in, form)
                if error is None:
                    answer = self._tokens(s, sign_in.email or "", sign_in.client_id, sign_in.id)
                    _log.info("odr_signed_in", subject=self.subject_ref(sign_in.email or "")[:16])
        if error is not None:
            raise error
        return answer

    def _check_code_grant(self, sign_in: OdrSignIn, form: Mapping[str, str]) -> OAuthError | None:
        if sign_in.code_challenge is None:  # a plain (Aeon) sign-in: no verifier was ever promised
            if form.get("redirect_uri") not in (None, sign_in.redirect_uri):
                return OAuthError("invalid_grant", "redirect_uri does not match the authorization request.")
            return None
        if form.get("client_id") != sign_in.client_id:
            return OAuthError("invalid_grant", "client_id does not match the authorization request.")
        if form.get("redirect_uri") != sign_in.redirect_uri:
            return OAuthError("invalid_grant", "redirect_uri does not match the authorization request.")
        verifier = form.get("code_verifier") or ""
        if not _VERIFIER.fullmatch(verifier) or not secrets.compare_digest(s256(verifier), sign_in.code_challenge):
            return OAuthError("invalid_grant", "The code_verifier does not match the code_challenge.")
        return None

    def _refresh_grant(self, form: Mapping[str, str]) -> dict[str, Any]:
        now = self.clock.now()
        answer: dict[str, Any] | None = None
        with self.db.session() as s:
            token, fresh = repo.rotate_refresh(s, self._hash("refresh", form.get("refresh_token") or ""), now)
            if token is not None and fresh and form.get("client_id") in (None, token.client_id):
                answer = self._tokens(s, token.email, token.client_id, token.family)
        if answer is None:
            raise OAuthError("invalid_grant", "The refresh token is invalid, expired or was already used.")
        return answer

    def _tokens(self, s: Any, email: str, client_id: str, family: str) -> dict[str, Any]:
        now = self.clock.now()
        refresh = secrets.token_urlsafe(32)
        repo.add_refresh(
            s,
            OdrRefreshToken(
                token_hash=self._hash("refresh", refresh),
                family=family,
                email=email,
                client_id=client_id,
                created_at=now,
                expires_at=now + timedelta(days=self.s.refresh_token_ttl_days),
                revoked=False,
            ),
        )
        ttl = self.s.access_token_ttl_seconds
        return {
            "access_token": self.endusers.issue(email, [ODR_SCOPE], client_id, ttl),
            "token_type": "Bearer",
            "expires_in": ttl,
            "refresh_token": refresh,
            "scope": ODR_SCOPE,
        }
