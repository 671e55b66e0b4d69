"""`OPTIONS` and 405 answers name every method of a path (a security review: `OPTIONS /odr/requests/{id}` named
one of two). Starlette answers 405 from the first route whose path matches, with that route's methods only;
this middleware looks at every route of the app (through included routers and mounts) instead.

`OPTIONS` on a known path answers 204 with `Allow`; CORS stays off (no `Access-Control-*` header is sent).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

from starlette.routing import BaseRoute, Mount, Route, compile_path
from starlette.staticfiles import StaticFiles

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def walk(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, set[str]]]:
    """(path, methods) of every route, through included routers (FastAPI keeps those as branches) and mounts;
    a mounted folder of files is `<prefix>/{path}` with GET and HEAD."""
    for route in routes:
        if isinstance(route, Route):  # FastAPI's APIRoute too
            yield prefix + route.path, set(route.methods or ())
        elif hasattr(route, "original_router"):  # fastapi's _IncludedRouter
            branch: Any = route
            yield from walk(branch.original_router.routes, prefix + branch.include_context.prefix)
        elif isinstance(route, Mount) and isinstance(route.app, StaticFiles):
            yield prefix + route.path + "/{path:path}", {"GET", "HEAD"}
        elif isinstance(route, Mount):
            yield from walk(route.routes, prefix + route.path)


class AllowedMethods:
    def __init__(self, app: App, *, routes: Callable[[], list[BaseRoute]]) -> None:
        self.app, self.routes = app, routes
        self._index: list[tuple[re.Pattern[str], set[str]]] | None = None

    def allowed(self, path: str) -> set[str]:
        if self._index is None:  # built at the first request: every router is included by then
            self._index = [(compile_path(p)[0], m) for p, m in walk(self.routes())]
        found: set[str] = set()
        for regex, methods in self._index:
            if regex.match(path):
                found |= methods
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        if scope["method"] == "OPTIONS":
            methods = self.allowed(path)
            if methods:
                allow = ", ".join(sorted(methods | {"OPTIONS"})).encode()
                await send({"type": "http.response.start", "status": 204, "headers": [(b"allow", allow)]})
                await send({"type": "http.response.body", "body": b""})
                return

        async def send_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                allow = ", ".join(sorted(self.allowed(path) | {"OPTIONS"})).encode()
                headers = [(k, v) for k, v in message.get("headers") or [] if bytes(k).lower() != b"allow"]
                message["headers"] = [*headers, (b"allow", allow)]
            await send(message)

        await self.app(scope, receive, send_allow)
