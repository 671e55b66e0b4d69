"""Security headers on every answer, and the full set on every HTML page (a security review: /docs, /redoc and
GraphiQL sent no CSP, frame or nosniff headers).

An ASGI middleware, so it covers pages added by any router (console, privacy center, sign-in) without each
remembering to: every response gets `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer`; an
HTML response also gets a Content-Security-Policy (`'self'` only, no framing) and `X-Frame-Options: DENY`.
A page that sets its own CSP (ReDoc needs inline styles) keeps it; a CSP without `frame-ancestors` gets one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

PAGE_CSP = (
    "default-src 'self'; img-src 'self' data:; font-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
ALWAYS = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"))
PAGES = ((b"x-frame-options", b"DENY"), (b"content-security-policy", PAGE_CSP.encode()))


def secure(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The headers of a response with the missing security headers added (existing ones win)."""
    names = {name.lower(): i for i, (name, _) in enumerate(headers)}
    out = list(headers)
    ctype = out[names[b"content-type"]][1].lower() if b"content-type" in names else b""
    extra = ALWAYS + PAGES if ctype.startswith(b"text/html") else ALWAYS
    for name, value in extra:
        if name not in names:
            out.append((name, value))
    if b"content-security-policy" in names:
        i = names[b"content-security-policy"]
        if b"frame-ancestors" not in out[i][1]:
            out[i] = (out[i][0], out[i][1] + b"; frame-ancestors 'none'")
    return out


class SecurityHeaders:
    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = secure([(bytes(k), bytes(v)) for k, v in message.get("headers") or []])
            await send(message)

        await self.app(scope, receive, send_secured)
