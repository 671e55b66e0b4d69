"""Who is asking, and may they: the console's session cookie, role checks and CSRF checks, on the server.

Every page asks `Guard.operator` (no session: to the sign-in page); every action asks `Guard.action`, which
checks the session, the form's CSRF token (bound to the session) and the role's permission, and answers 403
otherwise, whatever the page showed. Cookies are HttpOnly, SameSite=Strict, and Secure over HTTPS.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from dsar.api.web import Web, secure_request
from dsar.bootstrap import Container
from dsar.operators.roles import allowed
from dsar.operators.service import OperatorView

SESSION_COOKIE = "dsar_console"
PREFIX = "/console"
FLASH_COOKIE = "dsar_console_flash"
FLASH_SECONDS = 120  # a notice (or a new secret) not shown within this long after its action is dropped


def local_next(value: str | None) -> str | None:
    """Where to go after signing in: a path of the console on this host, else None (never another site: no
    scheme, no host, no `//host` or `/\\host`, no `..`, no control characters)."""
    if not value or len(value) > 2000 or "\\" in value or ".." in value:
        return None
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not (parts.path == PREFIX or parts.path.startswith(f"{PREFIX}/")):
        return None
    return value


@dataclass(frozen=True)
class Who:
    sid: str
    operator: OperatorView

    def may(self, permission: str, *, assigned: bool = True) -> bool:
        return allowed(self.operator.role, permission, assigned=assigned)


class Refused(Exception):
    """Answered as a page (403 forbidden, 303 to the sign-in page, 400 bad form)."""

    def __init__(self, response: Response) -> None:
        self.response = response


class Guard:
    def __init__(self, container: Container, web: Web) -> None:
        self.container = container
        self.web = web
        self.tenant = container.settings.console.tenant or container.settings.requests.company_tenant
        self.oidc_enabled = False  # set when the OIDC routes are added
        # One-time notices for the page after a POST-redirect-GET (a new secret, "revoked"): sealed (AES-256-GCM,
        # bound to the session id) in a short-lived HttpOnly cookie, so any web process or replica can show it;
        # never in the URL; the page that shows it deletes the cookie.
        self._flash_aead = AESGCM(container.key("console-flash"))

    def redirect_with_flash(self, request: Request, who: Who, flash: dict[str, Any], to: str) -> RedirectResponse:
        expires = int(self.container.clock.now().timestamp()) + FLASH_SECONDS
        nonce = os.urandom(12)
        body = json.dumps({"flash": flash, "exp": expires}).encode()
        sealed = nonce + self._flash_aead.encrypt(nonce, body, who.sid.encode())
        response = RedirectResponse(to, status_code=303)
        response.set_cookie(
            FLASH_COOKIE,
            base64.urlsafe_b64encode(sealed).decode().rstrip("="),
            httponly=True,
            samesite="strict",
            secure=secure_request(request),
            path=PREFIX,
            max_age=FLASH_SECONDS,
        )
        return response

    def take_flash(self, request: Request, who: Who) -> dict[str, Any] | None:
        """The notice sealed for this session by the action just made, if any (the page deletes the cookie)."""
        raw = request.cookies.get(FLASH_COOKIE)
        if not raw:
            return None
        try:
            sealed = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
            doc = json.loads(self._flash_aead.decrypt(sealed[:12], sealed[12:], who.sid.encode()))
        except (ValueError, InvalidTag):  # forged, another session's, or from before a key change
            return None
        if not isinstance(doc, dict) or doc.get("exp", 0) < self.container.clock.now().timestamp():
            return None
        flash = doc.get("flash")
        return flash if isinstance(flash, dict) else None

    def confirm(
        self, request: Request, who: Who, form: FormData, values: Mapping[str, Any], nav: str
    ) -> Response | None:
        """The confirmation page for a destructive action, unless the form says it was confirmed: the same POST
        again with `confirmed=yes`, so it works without JavaScript and nothing changes until then."""
        if form.get("confirmed") == "yes":
            return None
        page = {"action": request.url.path, "hidden": {}, "final": True, **values}
        return self.page(request, who, "console/confirm.html", page, nav=nav)

    async def who(self, request: Request) -> Who | None:
        found = await run_in_threadpool(self.container.operators.session, request.cookies.get(SESSION_COOKIE))
        return None if found is None else Who(found[0], found[1])

    async def operator(self, request: Request, permission: str = "requests.read") -> Who:
        """The signed-in operator allowed `permission`; otherwise Refused (sign in, or 403)."""
        who = await self.who(request)
        if who is None:  # back to this page after signing in
            here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            back = local_next(here) and here not in (PREFIX, f"{PREFIX}/requests")  # the default needs no `next`
            target = f"{PREFIX}/sign-in" + (f"?{urlencode({'next': here})}" if back else "")
            raise Refused(RedirectResponse(target, status_code=303))
        if not who.may(permission):
            raise Refused(self.forbidden(request, who))
        return who

    async def action(self, request: Request, permission: str) -> tuple[Who, FormData]:
        """A POST: signed in, a valid CSRF token bound to this session, and the role's permission."""
        who = await self.who(request)
        if who is None:
            raise Refused(RedirectResponse(f"{PREFIX}/sign-in", status_code=303))
        form = await request.form()
        if not self.web.check_csrf(request, form, binding=who.sid):
            raise Refused(self.page(request, who, "console/error.html", {"reason": "csrf"}, status=403))
        if not who.may(permission):
            raise Refused(self.forbidden(request, who))
        return who, form

    def forbidden(self, request: Request, who: Who) -> HTMLResponse:
        return self.page(request, who, "console/error.html", {"reason": "forbidden"}, status=403)

    def page(
        self,
        request: Request,
        who: Who | None,
        template: str,
        values: Mapping[str, Any] | None = None,
        *,
        status: int = 200,
        nav: str = "",
    ) -> HTMLResponse:
        context = {"who": who, "nav": nav, "prefix": PREFIX, "oidc": self.oidc_enabled, **(values or {})}
        context.setdefault("flash", None)
        response = self.web.render(request, template, context, status=status, binding=who.sid if who else "")
        if FLASH_COOKIE in request.cookies:  # shown (or not for this session): once only
            response.delete_cookie(FLASH_COOKIE, path=PREFIX)
        return response

    @staticmethod
    def set_session(request: Request, response: Response, token: str, idle_minutes: int) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=secure_request(request),
            path=PREFIX,
            max_age=None,  # a browser session; the server ends it after idle_minutes
        )

    @staticmethod
    def clear_session(response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path=PREFIX)
