"""What every web page (console, privacy center, sign-in) carries: strict headers and CSRF protection.

Headers: a Content-Security-Policy of 'self' only (no inline script or style, no frames of the page), nosniff,
no referrer (a page's URL may hold a request id), and no caching of pages that show personal data.

CSRF: a signed double-submit token. The browser holds a random value in a cookie; each form carries that value
with an HMAC over it and the session it belongs to (or nothing before sign-in). A POST passes only when the form's
token matches the cookie's value and its MAC verifies, so a page elsewhere can neither read nor forge one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
HSTS = "max-age=31536000"

CSRF_COOKIE = "dsar_csrf"
STATIC_PREFIX = "/web/static/"
CSRF_FIELD = "csrf_token"


class SecurityHeaders:
    """ASGI middleware: every response under one of `prefixes` gets HEADERS (HSTS over HTTPS), and everything
    but the static files is not stored by caches. A header a route set itself is kept."""

    def __init__(self, app: ASGIApp, prefixes: Iterable[str]) -> None:
        self.app = app
        self.prefixes = tuple(prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _under(scope["path"], self.prefixes):
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
                if https:
                    headers.setdefault("Strict-Transport-Security", HSTS)
                if not scope["path"].startswith(STATIC_PREFIX):  # pages and exports may hold personal data
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith(p + "/") for p in prefixes)


def secure_request(request: Request) -> bool:
    """Cookies are `Secure` when the page was asked over HTTPS (uvicorn's --proxy-headers sets the scheme)."""
    return request.url.scheme == "https"


class Csrf:
    """Signed double-submit tokens; `binding` ties a token to a session id ('' before sign-in)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, nonce: str, binding: str) -> str:
        digest = hmac.new(self._key, f"csrf\x00{nonce}\x00{binding}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    @staticmethod
    def nonce(request: Request) -> str:
        """The browser's CSRF cookie, or a fresh value (which `set_cookie` then stores)."""
        value = request.cookies.get(CSRF_COOKIE, "")
        if 16 <= len(value) <= 64 and value.replace("-", "").replace("_", "").isalnum():
            return value
        cached = request.scope.get("dsar.csrf_nonce")
        if isinstance(cached, str):
            return cached
        fresh = secrets.token_urlsafe(24)
        request.scope["dsar.csrf_nonce"] = fresh
        return fresh

    def token(self, request: Request, binding: str = "") -> str:
        nonce = self.nonce(request)
        return f"{nonce}.{self._mac(nonce, binding)}"

    def valid(self, request: Request, submitted: object, binding: str = "") -> bool:
        if not isinstance(submitted, str) or "." not in submitted:
            return False
        nonce, _, mac = submitted.partition(".")
        cookie = request.cookies.get(CSRF_COOKIE, "")
        return (
            bool(cookie)
            and hmac.compare_digest(cookie.encode(), nonce.encode())
            and hmac.compare_digest(mac.encode(), self._mac(nonce, binding).encode())
        )

    @staticmethod
    def set_cookie(request: Request, response: Response) -> None:
        """Store the nonce a page's token was made from, if the browser did not have it yet."""
        fresh = request.scope.get("dsar.csrf_nonce")
        if isinstance(fresh, str) and request.cookies.get(CSRF_COOKIE) != fresh:
            response.set_cookie(
                CSRF_COOKIE, fresh, httponly=True, samesite="strict", secure=secure_request(request), path="/"
            )
