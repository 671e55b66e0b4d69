"""Every request body has a size limit (a security review: `POST /odr/requests` took a 13 MB body).

An ASGI middleware: a declared `Content-Length` over the limit is refused before the body is read, and a body
sent without one (chunked) is refused as soon as it grows past the limit. The answer is 413 in the format of
the face the path belongs to. GraphQL and the upload PUT keep limits of their own and are not counted here.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY = 1 << 20
MESSAGE = "The request body is too large (at most 1 MiB)."


class _TooLarge(Exception):
    pass


class BodyLimit:
    def __init__(
        self, app: App, *, odr_prefix: str, max_bytes: int = MAX_BODY, steps_max_bytes: int = MAX_BODY
    ) -> None:
        self.app, self.odr_prefix, self.max_bytes = app, odr_prefix, max_bytes
        self.steps_max_bytes = steps_max_bytes  # /steps/: a manual step's answer with its files (DSAR_MANUAL__*)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or path == "/graphql" or path.startswith("/uploads/"):
            await self.app(scope, receive, send)
            return
        limit = self.steps_max_bytes if path.startswith("/steps/") else self.max_bytes
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(path, send)
            return
        seen, started = 0, False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except _TooLarge:
            if not started:
                await self._refuse(path, send)

    async def _refuse(self, path: str, send: Send) -> None:
        if path.startswith(self.odr_prefix):
            body: dict[str, str] = {"error": "PayloadTooLarge", "message": MESSAGE}
        elif path == "/token":
            body = {"error": "invalid_request", "error_description": MESSAGE}
        else:  # the portability API's format
            body = {"category": "BAD_REQUEST", "type": "PAYLOAD_TOO_LARGE", "message": MESSAGE}
        raw = json.dumps(body).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": raw})
