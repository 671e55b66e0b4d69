"""Integrations (admins): API clients (create, rotate the secret, revoke), portability apps (create, revoke one
customer's or every customer's authorization), the webhook endpoints (subscriptions, read only) and the outbox's
notifications and webhook deliveries (redeliver). A secret is shown once, on the page that made it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dsar.api.web.console.guard import PREFIX, Guard, Who
from dsar.auth.service import KNOWN_SCOPES
from dsar.errors import DsarError

MESSAGES_SHOWN = 50


def add_integration_routes(router: APIRouter, guard: Guard) -> None:
    c = guard.container

    def overview() -> dict[str, Any]:
        messages = c.notifications.messages()[-MESSAGES_SHOWN:][::-1]
        return {
            "clients": c.auth.clients(),
            "apps": c.portability.apps(),
            "scopes": sorted(KNOWN_SCOPES),
            "endpoints": c.webhooks.endpoints(),
            "messages": [(m, c.notifications.deliveries(m.id)) for m in messages],
        }

    async def page(request: Request, who: Who, status: int = 200, **extra: Any) -> Response:
        values = {"secret": None, "error": None, "done": None, **await run_in_threadpool(overview), **extra}
        return guard.page(request, who, "console/integrations.html", values, nav="integrations", status=status)

    @router.get("/integrations")
    async def integrations(request: Request) -> Response:
        who = await guard.operator(request, "integrations.manage")
        return await page(request, who)

    @router.post("/integrations/clients")
    async def create_client(request: Request) -> Response:
        who, form = await guard.action(request, "integrations.manage")
        name = str(form.get("name", ""))
        scopes = [str(v) for v in form.getlist("scope")]
        tenant = str(form.get("tenant", "")) or guard.tenant
        try:
            client_id, secret = await run_in_threadpool(c.auth.create_client, name, scopes, tenant)
        except DsarError as exc:
            return await page(request, who, status=400, error=exc.message)
        await run_in_threadpool(c.operators.record, who.operator.email, "client_created", client_id, {"scopes": scopes})
        return await page(request, who, secret={"client_id": client_id, "secret": secret})

    @router.post("/integrations/clients/{client_id}/rotate")
    async def rotate(request: Request, client_id: str) -> Response:
        who, _form = await guard.action(request, "integrations.manage")
        try:
            secret = await run_in_threadpool(c.auth.rotate_secret, client_id)
        except DsarError as exc:
            return await page(request, who, status=404, error=exc.message)
        await run_in_threadpool(c.operators.record, who.operator.email, "client_rotated", client_id)
        return await page(request, who, secret={"client_id": client_id, "secret": secret})

    @router.post("/integrations/clients/{client_id}/revoke")
    async def revoke(request: Request, client_id: str) -> Response:
        who, _form = await guard.action(request, "integrations.manage")
        try:
            await run_in_threadpool(c.auth.revoke_client, client_id)
        except DsarError as exc:
            return await page(request, who, status=404, error=exc.message)
        await run_in_threadpool(c.operators.record, who.operator.email, "client_revoked", client_id)
        return RedirectResponse(f"{PREFIX}/integrations", status_code=303)

    @router.post("/integrations/apps")
    async def create_app(request: Request) -> Response:
        who, form = await guard.action(request, "integrations.manage")
        name, url = str(form.get("name", "")), str(form.get("notify_url", ""))
        try:
            view = await run_in_threadpool(lambda: c.portability.create_app(name, url))
        except DsarError as exc:
            return await page(request, who, status=400, error=exc.message)
        await run_in_threadpool(c.operators.record, who.operator.email, "app_created", view.app_id)
        return RedirectResponse(f"{PREFIX}/integrations", status_code=303)

    @router.post("/integrations/apps/{app_id}/revoke")
    async def revoke_app(request: Request, app_id: str) -> Response:
        who, _form = await guard.action(request, "integrations.manage")
        try:
            canceled = await run_in_threadpool(c.portability.revoke, app_id)
        except DsarError as exc:
            return await page(request, who, status=404, error=exc.message)
        await run_in_threadpool(c.operators.record, who.operator.email, "app_revoked", app_id, {"canceled": canceled})
        return RedirectResponse(f"{PREFIX}/integrations", status_code=303)

    @router.post("/integrations/apps/{app_id}/revoke-customer")
    async def revoke_customer(request: Request, app_id: str) -> Response:
        """One customer's authorization of the app (they asked to withdraw it, or it was given in error)."""
        who, form = await guard.action(request, "integrations.manage")
        email = str(form.get("email", ""))
        try:
            canceled = await run_in_threadpool(c.portability.revoke, app_id, email)
        except DsarError as exc:
            status = 404 if exc.code == "APP_NOT_FOUND" else 400
            return await page(request, who, status=status, error=guard.web.gettext(request, exc.message))
        details = {"canceled": canceled, "every_customer": False}  # the audit record names no customer
        await run_in_threadpool(c.operators.record, who.operator.email, "app_revoked", app_id, details)
        return await page(request, who, done=app_id)

    @router.post("/integrations/messages/{message_id}/redeliver")
    async def redeliver(request: Request, message_id: str) -> Response:
        who, _form = await guard.action(request, "integrations.manage")
        try:
            await run_in_threadpool(c.notifications.redeliver, message_id)
        except DsarError as exc:
            return await page(request, who, status=404, error=exc.message)
        await run_in_threadpool(c.operators.record, who.operator.email, "webhook_redelivered", message_id)
        return RedirectResponse(f"{PREFIX}/integrations", status_code=303)
