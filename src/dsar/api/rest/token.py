"""POST /token: the OAuth 2 client-credentials grant (form fields or HTTP Basic), RFC 6749 errors."""

from __future__ import annotations

import base64
import binascii
import contextlib
from urllib.parse import unquote_plus

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from dsar.auth.service import OAuthError
from dsar.bootstrap import Container
from dsar.ratelimit.service import RateLimited

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _error(exc: OAuthError, basic: bool) -> JSONResponse:
    headers = dict(NO_STORE)
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="dsar"' if basic else 'Bearer realm="dsar"'
    return JSONResponse({"error": exc.error, "error_description": exc.description}, exc.status, headers)


def token_router(container: Container) -> APIRouter:
    router = APIRouter()
    rule = container.rate_rule("token_failures")  # failed attempts per client address, across replicas

    @router.post("/token", tags=["auth"], summary="OAuth 2 client-credentials grant")
    async def token(request: Request) -> JSONResponse:
        ctype = request.headers.get("content-type", "")
        form = await request.form() if "application/x-www-form-urlencoded" in ctype or "multipart" in ctype else {}
        basic = request.headers.get("authorization", "")
        client_id = str(form.get("client_id") or "")
        client_secret = str(form.get("client_secret") or "")
        if basic.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(basic[6:].strip(), validate=True).decode("utf-8")
                user, _, password = decoded.partition(":")
                client_id, client_secret = unquote_plus(user), unquote_plus(password)
            except (binascii.Error, UnicodeDecodeError):
                return _error(OAuthError("invalid_client", "Malformed HTTP Basic credentials.", 401), True)
        grant = form.get("grant_type")
        if not grant:
            return _error(
                OAuthError("invalid_request", "The grant_type parameter is required (form-encoded body)."), False
            )
        if grant != "client_credentials":
            return _error(
                OAuthError("unsupported_grant_type", "Only the client_credentials grant is supported."), False
            )
        if not client_id or not client_secret:
            return _error(OAuthError("invalid_client", "Client authentication failed.", 401), bool(basic))
        scope = form.get("scope")
        who = request.client.host if request.client else "unknown"

        def issue() -> dict[str, object]:
            container.rate_limits.check(rule, who)  # before the secret is looked at
            try:
                return container.auth.issue_token(client_id, client_secret, str(scope) if scope else None)
            except OAuthError as exc:
                if exc.error == "invalid_client":
                    with contextlib.suppress(RateLimited):  # this answer is still the 401; the next one waits
                        container.rate_limits.hit(rule, who)
                raise

        try:
            body = await run_in_threadpool(issue)
        except OAuthError as exc:
            return _error(exc, bool(basic))
        except RateLimited as exc:
            return JSONResponse(
                {"error": "slow_down", "error_description": "Too many failed attempts; try again later."},
                429,
                {**NO_STORE, "Retry-After": str(exc.retry_after)},
            )
        return JSONResponse(body, headers=NO_STORE)

    return router
