"""Signing operators in with the company's OpenID Connect provider (authorization code, PKCE S256, nonce).

The flow's state, nonce and verifier travel in a short-lived signed cookie (HttpOnly, SameSite=Lax, since
the provider sends the browser back with a top-level GET); the verified e-mail is bound to an existing
operator account (admins create accounts; signing in never does). The callback answers with a page that moves
on by itself, so the SameSite=Strict session cookie it sets is sent by the next, same-site, request.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dsar.api.web import secure_request
from dsar.api.web.console.guard import PREFIX, Guard
from dsar.auth.oidc import OidcClient, OidcError
from dsar.errors import DsarError
from dsar.kit.signing import sign, verify

FLOW_COOKIE = "dsar_console_oidc"
FLOW_SECONDS = 600


def add_oidc_routes(router: APIRouter, guard: Guard) -> None:
    c = guard.container
    s = c.settings.console
    if not (s.oidc_issuer and s.oidc_client_id and s.oidc_client_secret):
        return
    client = OidcClient(
        issuer=s.oidc_issuer,
        client_id=s.oidc_client_id,
        client_secret=s.oidc_client_secret,
        redirect_uri=c.settings.public_url.rstrip("/") + PREFIX + "/oidc/callback",
    )
    key = c.key("console-oidc-flow")
    guard.oidc_enabled = True

    @router.get("/oidc/start")
    async def start(request: Request) -> Response:
        state, nonce, verifier = (secrets.token_urlsafe(24) for _ in range(3))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        try:
            url = await run_in_threadpool(client.authorization_url, state, nonce, challenge)
        except OidcError:
            return guard.page(request, None, "console/error.html", {"reason": "oidc"}, status=502)
        until = str(int(time.time()) + FLOW_SECONDS)
        value = ".".join((state, nonce, verifier, until, sign(key, state, nonce, verifier, until)))
        response = RedirectResponse(url, status_code=303)
        response.set_cookie(
            FLOW_COOKIE,
            value,
            max_age=FLOW_SECONDS,
            httponly=True,
            samesite="lax",
            secure=secure_request(request),
            path=PREFIX + "/oidc",
        )
        return response

    @router.get("/oidc/callback")
    async def callback(request: Request, code: str = "", state: str = "") -> Response:
        parts = request.cookies.get(FLOW_COOKIE, "").split(".")
        refused = guard.page(
            request, None, "console/sign_in.html", {"email": "", "error": "refused", "next": None}, status=401
        )
        refused.delete_cookie(FLOW_COOKIE, path=PREFIX + "/oidc")
        if len(parts) != 5 or not code:
            return refused
        want, nonce, verifier, until, signature = parts
        fresh = until.isdigit() and int(until) > time.time()
        if not (fresh and verify(key, signature, want, nonce, verifier, until) and secrets.compare_digest(want, state)):
            return refused
        try:
            email = await run_in_threadpool(client.verified_email, code, verifier, nonce)
            token, _operator = await run_in_threadpool(c.operators.sign_in_oidc, f"{s.oidc_issuer}|{email}", email)
        except (OidcError, DsarError):
            return refused
        response = guard.page(request, None, "console/continue.html", {"to": f"{PREFIX}/requests"})
        guard.set_session(request, response, token, s.idle_minutes)
        response.delete_cookie(FLOW_COOKIE, path=PREFIX + "/oidc")
        return response
