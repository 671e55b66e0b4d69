"""POST /graphql (and GraphiQL on GET): authentication, execution, and the BwP error format."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from dsar import log
from dsar.api.graphql.context import Context
from dsar.api.graphql.errors import format_error, internal, unauthenticated
from dsar.api.graphql.schema import UnsupportedVersion, schema_for
from dsar.api.pages import graphiql_page
from dsar.bootstrap import Container
from dsar.errors import Unauthenticated

_log = log.get("dsar.api.graphql")
MAX_BODY = 1 << 20


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def _bad_request(message: str, status: int = 400) -> Response:
    return _json(
        {
            "errors": [
                {
                    "message": message,
                    "extensions": {
                        "classification": {
                            "type": "ValidationError",
                            "errorType": "ValidationException",
                            "errorCode": status,
                        }
                    },
                }
            ],
            "data": None,
        },
        status,
    )


def graphql_router(container: Container) -> APIRouter:
    router = APIRouter()

    @router.get("/graphql", include_in_schema=False)
    async def graphiql() -> HTMLResponse:
        return graphiql_page()

    async def graphql(request: Request) -> Response:
        try:
            principal = container.auth.authenticate(request.headers.get("authorization"))
        except Unauthenticated as exc:
            error = "" if exc.code == "missing" else f', error="invalid_token", error_description="{exc.message}"'
            return _json(unauthenticated(exc.message), 401, {"WWW-Authenticate": f'Bearer realm="dsar"{error}'})
        raw = await request.body()
        if len(raw) > MAX_BODY:
            return _bad_request("The request body is too large.", 413)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return _bad_request("The request body is not valid JSON.")
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return _bad_request("The request body must be a JSON object with a `query` string.")
        variables = body.get("variables")
        if variables is not None and not isinstance(variables, dict):
            return _bad_request("`variables` must be a JSON object.")
        operation = body.get("operationName")
        version = request.headers.get("x-api-version")
        try:
            schema = schema_for(version)
        except UnsupportedVersion:
            return _bad_request("The x-api-version header must be an API version such as 2024-04-01.")
        ctx = Context(container, principal, version)
        try:
            result = await schema.execute(
                body["query"],
                variable_values=variables,
                context_value=ctx,
                operation_name=operation if isinstance(operation, str) else None,
                allowed_operation_types=(OperationType.QUERY, OperationType.MUTATION),
            )
        except InvalidOperationTypeError:  # a subscription (or another type this API does not serve)
            return _bad_request("Only query and mutation operations are supported.")
        except Exception as exc:
            _log.error("graphql_crashed", error=type(exc).__name__)
            err = internal()
            return _json(
                {
                    "errors": [{"message": err.message, "extensions": {"classification": err.classification}}],
                    "data": None,
                },
                500,
            )
        out: dict[str, Any] = {}
        data = result.data
        if result.errors:
            formatted = []
            for e in result.errors:
                item, data_null = format_error(e)
                formatted.append(item)
                if data_null:
                    data = None
                if e.original_error is not None and item["extensions"]["classification"]["errorCode"] == 500:
                    _log.error("resolver_failed", error=type(e.original_error).__name__, path=e.path)
            out["errors"] = formatted
        out["data"] = data
        return _json(out)

    # A plain Starlette route: FastAPI's request handling (dependency solving, the endpoint run through its
    # wrappers) would cost ~5 % of a small query and this endpoint reads the raw body itself anyway.
    router.add_route("/graphql", graphql, methods=["POST"], include_in_schema=False)
    return router
