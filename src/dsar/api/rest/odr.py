"""The Open Data Rights API (`/odr/...`): requests, data types, settings, and its OAuth sign-in.

Errors use the spec's `{"error", "message"}` bodies, to the character; the token endpoint uses RFC 6749's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.responses import StreamingResponse

from dsar.auth.endusers import ODR_SCOPE, EndUser
from dsar.auth.oidc import OidcError
from dsar.bootstrap import Container
from dsar.errors import DsarError, InvalidInput, NotFound, Unauthenticated
from dsar.odr.face import OIDC_CALLBACK, Odr
from dsar.odr.oauth import OAuthError, PageError, RedirectError, SignInPage
from dsar.odr.pages import error_page, sign_in_page
from dsar.odr.service import NOT_COMPLETED

UNAUTHORIZED = {
    "error": "Unauthorized",
    "message": "You are not authorized. Generate authentication tokens via OAuth to access this resource.",
}
NOT_FOUND = {"error": "Not Found", "message": "Could not find a data request with this id."}
NOT_DONE = {"error": "Bad Request", "message": "The request you are trying to retrieve has not been completed yet"}
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
PAGE_HEADERS = {
    **NO_STORE,
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
WELL_KNOWN = "/.well-known/oauth-authorization-server"


def _json(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=NO_STORE)


def _error(exc: DsarError) -> JSONResponse:
    if isinstance(exc, Unauthenticated):
        return JSONResponse(UNAUTHORIZED, 401, headers={**NO_STORE, "WWW-Authenticate": 'Bearer realm="odr"'})
    if isinstance(exc, NotFound):
        return _json(NOT_FOUND, 404)
    if isinstance(exc, InvalidInput) and exc.code == NOT_COMPLETED:
        return _json(NOT_DONE, 400)
    if isinstance(exc, InvalidInput):
        return _json({"error": exc.code, "message": exc.message}, 400)
    raise exc


def odr_router(container: Container) -> APIRouter:
    prefix = container.settings.odr.prefix
    router = APIRouter(tags=["Open Data Rights"])

    def odr() -> Odr:
        return container.odr

    def user(request: Request) -> EndUser:
        found = container.endusers.verify(request.headers.get("authorization"))
        if ODR_SCOPE not in found.scopes:
            raise Unauthenticated("The token does not grant the Open Data Rights scope.", code="scope")
        return found

    async def guarded(request: Request, fn: Callable[[EndUser], Any]) -> Any:
        try:
            who = user(request)
            return await run_in_threadpool(fn, who)
        except DsarError as exc:
            return _error(exc)

    @router.get(prefix + "/settings", summary="Detail the properties under which this organisation operates")
    async def settings() -> JSONResponse:
        return _json(await run_in_threadpool(lambda: odr().requests.settings_doc()))

    @router.get(prefix + "/data", summary="List the data processed by the organisation")
    async def data(lang: str = "en") -> JSONResponse:
        try:
            return _json(await run_in_threadpool(odr().requests.data_doc, lang))
        except DsarError as exc:
            return _error(exc)

    @router.get(prefix + "/data/me", summary="List the data processed for the authenticated user")
    async def data_me(request: Request) -> Response:
        result = await guarded(request, lambda u: _json(odr().requests.data_me_doc(u.subject)))
        return result  # type: ignore[no-any-return]

    @router.get(prefix + "/requests", summary="List all data requests for this user")
    async def list_requests(request: Request) -> Response:
        return await guarded(request, lambda u: _json(odr().requests.list(u.subject)))  # type: ignore[no-any-return]

    @router.post(prefix + "/requests", summary="Create a new data request")
    async def create_request(request: Request) -> Response:
        raw = await request.body()

        def work(u: EndUser) -> Response:
            types: list[str] | None = None
            if raw.strip():
                try:
                    parsed = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    parsed = None
                if not isinstance(parsed, list) or not all(isinstance(t, str) for t in parsed):
                    raise InvalidInput(
                        "The data types that were specified do not match the available datatypes for this "
                        "organisation.",
                        code="InvalidDataTypes",
                    )
                types = parsed
            return _json(odr().requests.create(u.subject, u.client_id, types))

        return await guarded(request, work)  # type: ignore[no-any-return]

    @router.get(prefix + "/requests/{requestId}", summary="Get the status of a previously issued data request")
    async def get_request(requestId: str, request: Request) -> Response:
        return await guarded(request, lambda u: _json(odr().requests.get(u.subject, requestId)))  # type: ignore[no-any-return]

    @router.delete(prefix + "/requests/{requestId}", summary="Cancel an outstanding request")
    async def delete_request(requestId: str, request: Request) -> Response:
        def work(u: EndUser) -> Response:
            odr().requests.cancel(u.subject, requestId)
            return PlainTextResponse("OK", headers=NO_STORE)

        return await guarded(request, work)  # type: ignore[no-any-return]

    @router.get(prefix + "/requests/{requestId}/complete", summary="Whether the request has been completed")
    async def complete(requestId: str, request: Request) -> Response:
        def work(u: EndUser) -> Response:
            done = odr().requests.is_complete(u.subject, requestId)
            return PlainTextResponse("1" if done else "0", headers=NO_STORE)

        return await guarded(request, work)  # type: ignore[no-any-return]

    @router.get(prefix + "/requests/{requestId}/download", summary="Download a previously issued data request")
    async def download(requestId: str, request: Request) -> Response:
        def work(u: EndUser) -> Response:
            chunks = odr().requests.download(u.subject, requestId)
            headers = {**NO_STORE, "Content-Disposition": 'attachment; filename="data_retrieval.zip"'}
            return StreamingResponse(iterate_in_threadpool(chunks), media_type="application/zip", headers=headers)

        return await guarded(request, work)  # type: ignore[no-any-return]

    # --- OAuth -----------------------------------------------------------------------------------------------

    def page(view: SignInPage, action: str) -> HTMLResponse:
        c = odr().config
        label = c.settings.oidc_label if c.settings.oidc_issuer else ""
        html = sign_in_page(view, c.organisation, action, c.settings.privacy_policy, label)
        return HTMLResponse(html, headers=PAGE_HEADERS)

    async def authorize_get(request: Request) -> Response:
        query = {k: v for k, v in request.query_params.items()}
        try:
            view = await run_in_threadpool(odr().auth.begin, query)
        except PageError as exc:
            return HTMLResponse(error_page(exc.message, odr().config.organisation), 400, headers=PAGE_HEADERS)
        except RedirectError as exc:
            return RedirectResponse(exc.location, 302, headers=NO_STORE)
        return page(view, request.url.path)

    async def authorize_post(request: Request) -> Response:
        form = await request.form()
        fields = {k: str(v) for k, v in form.items() if isinstance(v, str)}
        sign_in_id = fields.get("sign_in", "")
        outcome: str | SignInPage
        try:
            if fields.get("step") == "oidc":
                outcome = await run_in_threadpool(odr().auth.start_oidc, sign_in_id)
            elif fields.get("step") == "code":
                outcome = await run_in_threadpool(odr().auth.check_code, sign_in_id, fields.get("code", ""))
            else:
                outcome = await run_in_threadpool(odr().auth.send_code, sign_in_id, fields.get("email", ""))
        except PageError as exc:
            return HTMLResponse(error_page(exc.message, odr().config.organisation), 400, headers=PAGE_HEADERS)
        except OidcError:
            message = "The company sign-in is not available right now. Use the e-mail code instead."
            return HTMLResponse(error_page(message, odr().config.organisation), 502, headers=PAGE_HEADERS)
        if isinstance(outcome, str):
            return RedirectResponse(outcome, 303, headers=NO_STORE)
        return page(outcome, request.url.path)

    @router.get(prefix + OIDC_CALLBACK, include_in_schema=False)
    async def oidc_callback(request: Request) -> Response:
        q = request.query_params
        try:
            location = await run_in_threadpool(
                odr().auth.finish_oidc, q.get("state", ""), q.get("code", ""), q.get("error")
            )
        except (PageError, OidcError) as exc:
            message = exc.message if isinstance(exc, PageError) else "The company sign-in is not available."
            return HTMLResponse(error_page(message, odr().config.organisation), 400, headers=PAGE_HEADERS)
        return RedirectResponse(location, 303, headers=NO_STORE)

    for path in ("/oauth/authorize", "/oauth/authorized", "/authorization"):
        router.add_api_route(prefix + path, authorize_get, methods=["GET"], include_in_schema=False)
        router.add_api_route(prefix + path, authorize_post, methods=["POST"], include_in_schema=False)

    @router.post(prefix + "/oauth/token", summary="OAuth 2 token endpoint (authorization code + PKCE, refresh)")
    async def token(request: Request) -> JSONResponse:
        form = await request.form()
        fields = {k: str(v) for k, v in form.items() if isinstance(v, str)}
        try:
            return _json(await run_in_threadpool(odr().auth.token, fields))
        except OAuthError as exc:
            return _json({"error": exc.error, "error_description": exc.description}, exc.status)

    async def metadata() -> JSONResponse:
        return JSONResponse(odr().auth.metadata())

    paths = (WELL_KNOWN, WELL_KNOWN + prefix, prefix + WELL_KNOWN)
    for i, path in enumerate(paths):
        router.add_api_route(
            path, metadata, methods=["GET"], include_in_schema=i == 0, summary="OAuth 2 server metadata (RFC 8414)"
        )
    return router


__all__ = ["odr_router"]
