"""The privacy team's console at /console: server-rendered pages over the operators and requests services."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI
from starlette.requests import Request
from starlette.responses import Response

from dsar.api.web import Web
from dsar.api.web.console.admin import add_admin_routes
from dsar.api.web.console.auth import add_auth_routes
from dsar.api.web.console.datamap import add_datamap_routes
from dsar.api.web.console.guard import PREFIX, Guard, Refused
from dsar.api.web.console.integrations import add_integration_routes
from dsar.api.web.console.oidc import add_oidc_routes
from dsar.api.web.console.requests import add_request_routes
from dsar.bootstrap import Container


def mount_console(app: FastAPI, container: Container) -> None:
    web = Web(container.key("web-csrf"), zone=ZoneInfo(container.settings.requests.timezone))
    guard = Guard(container, web)
    router = APIRouter(prefix=PREFIX, include_in_schema=False)
    add_auth_routes(router, guard)
    add_oidc_routes(router, guard)
    add_request_routes(router, guard)
    add_admin_routes(router, guard)
    add_datamap_routes(router, guard)
    add_integration_routes(router, guard)
    app.include_router(router)

    async def refused(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Refused)
        return exc.response

    app.add_exception_handler(Refused, refused)
