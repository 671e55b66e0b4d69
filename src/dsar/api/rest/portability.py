"""The Amazon Data Portability REST face (`/portability/{scopeId}/data-queries...`) and the SNS endpoints
(`/notifications/sns/...`: signing certificate, SubscribeURL, UnsubscribeURL).

Every error is `{"category", "type", "message"}` with the statuses of docs/portability.md.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, PlainTextResponse, Response

from dsar import log
from dsar.bootstrap import Container
from dsar.errors import DsarError, NotFound
from dsar.notifications.service import CERT_PATH, CONFIRM_PATH, KEY_ID, UNSUBSCRIBE_PATH
from dsar.portability.errors import Throttled
from dsar.portability.service import Answer

_log = log.get("dsar.api")
_HEADERS = {"cache-control": "no-store"}
# type -> (HTTP status, category)
STATUS: dict[str, tuple[int, str]] = {
    "MISSING_TOKEN": (401, "UNAUTHORIZED"),
    "INVALID_TOKEN": (401, "UNAUTHORIZED"),
    "EXPIRED_TOKEN": (401, "UNAUTHORIZED"),
    "REVOKED_TOKEN": (401, "UNAUTHORIZED"),
    "APP_NOT_REGISTERED": (403, "FORBIDDEN"),
    "SCOPE_NOT_AUTHORIZED": (403, "FORBIDDEN"),
    "AUTHORIZATION_USED": (403, "FORBIDDEN"),
    "SCOPE_NOT_FOUND": (404, "NOT_FOUND"),
    "QUERY_NOT_FOUND": (404, "NOT_FOUND"),
    "REQUEST_CONFLICT": (409, "CONFLICT"),
    "QUERY_IN_PROGRESS": (409, "CONFLICT"),
    "QUERY_CANCELED": (409, "CONFLICT"),
    "INVALID_MAX_RESULTS": (400, "BAD_REQUEST"),
    "INVALID_NEXT_PAGE_TOKEN": (400, "BAD_REQUEST"),
    "THROTTLED": (429, "TOO_MANY_REQUESTS"),
    "QUOTA_EXCEEDED": (429, "TOO_MANY_REQUESTS"),
}


def error(status: int, category: str, type_: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"category": category, "type": type_, "message": message},
        status_code=status,
        headers={**_HEADERS, **(headers or {})},
    )


def _from(exc: DsarError) -> JSONResponse:
    status, category = STATUS.get(exc.code, (400, "BAD_REQUEST"))
    headers: dict[str, str] = {}
    if status == 401:
        headers["www-authenticate"] = 'Bearer error="invalid_token"'
    if isinstance(exc, Throttled):
        headers["retry-after"] = str(exc.retry_after)
    return error(status, category, exc.code, exc.message, headers)


async def _call(fn: Any, *args: Any) -> Response:
    try:
        answer: Answer = await run_in_threadpool(fn, *args)
    except DsarError as exc:
        if exc.code not in STATUS:
            _log.error("portability_error", error=type(exc).__name__, code=exc.code)
            return error(500, "INTERNAL_SERVER_ERROR", "INTERNAL_ERROR", "An internal error occurred; try again.")
        return _from(exc)
    except Exception as exc:
        _log.error("portability_error", error=type(exc).__name__)
        return error(500, "INTERNAL_SERVER_ERROR", "INTERNAL_ERROR", "An internal error occurred; try again.")
    return JSONResponse(answer.body, status_code=answer.status, headers=_HEADERS)


def portability_router(container: Container) -> APIRouter:
    prefix = container.settings.portability.prefix
    router = APIRouter(tags=["Data Portability"])

    @router.post(prefix + "/{scopeId}/data-queries", status_code=201, name="createDataQuery")
    async def create_data_query(scopeId: str, authorization: str | None = Header(None)) -> Response:
        """Start a data query for the customer of the bearer token and the scope; `{"id": queryId}`."""
        return await _call(container.portability.create_query, authorization, scopeId)

    @router.get(prefix + "/{scopeId}/data-queries/{queryId}/records", name="listDataQueryRecords")
    async def list_data_query_records(
        scopeId: str,
        queryId: str,
        authorization: str | None = Header(None),
        maxResults: str | None = Query(None, description="1 to 250, default 100"),
        nextPageToken: str | None = Query(None),
    ) -> Response:
        """One page of the query's records: a signed link to each data file and to its JSON Schema."""
        return await _call(
            container.portability.list_records, authorization, scopeId, queryId, maxResults, nextPageToken
        )

    @router.get(CERT_PATH.format(key_id=KEY_ID), include_in_schema=False)
    async def signing_cert() -> Response:
        key = await run_in_threadpool(container.notifications.signing_key)
        return PlainTextResponse(key.cert_pem, media_type="application/x-pem-file")

    @router.get(CONFIRM_PATH, include_in_schema=False)
    async def confirm(request: Request) -> Response:
        try:
            arn = await run_in_threadpool(container.notifications.confirm, request.query_params.get("Token", ""))
        except NotFound:
            return PlainTextResponse("Unknown subscription token.", status_code=404)
        return Response(
            "<ConfirmSubscriptionResponse><ConfirmSubscriptionResult><SubscriptionArn>"
            f"{arn}</SubscriptionArn></ConfirmSubscriptionResult></ConfirmSubscriptionResponse>",
            media_type="text/xml",
        )

    @router.get(UNSUBSCRIBE_PATH, include_in_schema=False)
    async def unsubscribe(request: Request) -> Response:
        try:
            await run_in_threadpool(container.notifications.unsubscribe, request.query_params.get("Token", ""))
        except NotFound:
            return PlainTextResponse("Unknown subscription token.", status_code=404)
        return Response("<UnsubscribeResponse/>", media_type="text/xml")

    return router
