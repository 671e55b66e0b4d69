"""Sign-in (password and TOTP code), sign-out, the one-time set-password page, and the operator's own account."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dsar.api.web.console.guard import PREFIX, SESSION_COOKIE, Guard, local_next
from dsar.errors import DsarError
from dsar.operators import totp


def add_auth_routes(router: APIRouter, guard: Guard) -> None:
    ops = guard.container.operators
    idle = guard.container.settings.console.idle_minutes

    @router.get("/sign-in")
    async def sign_in_page(request: Request, next: str = "") -> Response:
        target = local_next(next)
        if await guard.who(request) is not None:
            return RedirectResponse(target or f"{PREFIX}/requests", status_code=303)
        return guard.page(request, None, "console/sign_in.html", {"email": "", "error": None, "next": target})

    @router.post("/sign-in")
    async def sign_in(request: Request) -> Response:
        form = await request.form()
        email, password, code = (str(form.get(k, "")) for k in ("email", "password", "code"))
        target = local_next(str(form.get("next", "")))  # only a page of the console: never another site
        if not guard.web.check_csrf(request, form):
            return guard.page(request, None, "console/error.html", {"reason": "csrf"}, status=403)
        try:
            token, _operator = await run_in_threadpool(ops.sign_in, email, password, code)
        except DsarError:
            values = {"email": email, "error": "refused", "next": target}
            return guard.page(request, None, "console/sign_in.html", values, status=401)
        response = RedirectResponse(target or f"{PREFIX}/requests", status_code=303)
        guard.set_session(request, response, token, idle)
        return response

    @router.post("/sign-out")
    async def sign_out(request: Request) -> Response:
        who, _form = await guard.action(request, "requests.read")
        await run_in_threadpool(ops.sign_out, request.cookies.get(SESSION_COOKIE), actor=who.operator.email)
        response = RedirectResponse(f"{PREFIX}/sign-in", status_code=303)
        guard.clear_session(response)
        return response

    @router.get("/setup")
    async def setup_page(request: Request, token: str = "") -> Response:
        try:
            account = await run_in_threadpool(ops.setup_account, token)
        except DsarError:
            return guard.page(request, None, "console/error.html", {"reason": "link"}, status=404)
        return guard.page(request, None, "console/setup.html", {"token": token, "account": account, "error": None})

    @router.post("/setup")
    async def setup(request: Request) -> Response:
        form = await request.form()
        token, password, again = (str(form.get(k, "")) for k in ("token", "password", "password_again"))
        if not guard.web.check_csrf(request, form):
            return guard.page(request, None, "console/error.html", {"reason": "csrf"}, status=403)
        try:
            account = await run_in_threadpool(ops.setup_account, token)
        except DsarError:
            return guard.page(request, None, "console/error.html", {"reason": "link"}, status=404)
        error = "mismatch" if password != again else None
        if error is None:
            try:
                await run_in_threadpool(ops.set_password, token, password)
            except DsarError as exc:
                error = exc.message
        if error is not None:
            values = {"token": token, "account": account, "error": error}
            return guard.page(request, None, "console/setup.html", values, status=400)
        return RedirectResponse(f"{PREFIX}/sign-in?ready=1", status_code=303)

    @router.get("/account")
    async def account(request: Request) -> Response:
        who = await guard.operator(request)
        secret = ops.new_totp_secret()
        values = {"secret": secret, "uri": totp.uri(secret, who.operator.email), "error": None}
        return guard.page(request, who, "console/account.html", values, nav="account")

    @router.post("/account/totp")
    async def enable_totp(request: Request) -> Response:
        who, form = await guard.action(request, "requests.read")
        secret, code = str(form.get("secret", "")), str(form.get("code", ""))
        try:
            await run_in_threadpool(ops.enable_totp, who.operator.id, secret, code)
        except DsarError as exc:
            values = {"secret": secret, "uri": totp.uri(secret, who.operator.email), "error": exc.message}
            return guard.page(request, who, "console/account.html", values, status=400, nav="account")
        return RedirectResponse(f"{PREFIX}/account?totp=on", status_code=303)
