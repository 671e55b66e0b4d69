"""Integrations (admins): API clients (create, rotate the secret, revoke), portability apps (create, revoke one
customer's or every customer's authorization), the webhook endpoints (subscriptions, read only) and the outbox's
notifications and webhook deliveries (redeliver). Destructive actions ask first (a confirmation page,
the same POST with confirmed=yes); after an action the page is fetched again (POST-redirect-GET) and shows
its notice, and a new secret, once."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dsar.api.web.console.guard import PREFIX, Guard, Who
from dsar.api.web.i18n import N_
from dsar.auth.service import KNOWN_SCOPES
from dsar.datamap.identities import parse_identity
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
        values = {"secret": None, "error": None, **await run_in_threadpool(overview), **extra}
        return guard.page(request, who, "console/integrations.html", values, nav="integrations", status=status)

    @router.get("/integrations")
    async def integrations(request: Request) -> Response:
        who = await guard.operator(request, "integrations.manage")
        flash = guard.take_flash(request, who)
        return await page(request, who, flash=flash, secret=flash and flash.get("secret"))

    back = f"{PREFIX}/integrations"

    def done(request: Request, who: Who, text: str, secret: dict[str, str] | None = None) -> Response:
        """POST-redirect-GET: the notice (and a new secret) is shown once, by the next GET of the page."""
        flash = {"kind": "ok", "text": guard.web.gettext(request, text), "secret": secret}
        return guard.redirect_with_flash(request, who, flash, back)

    def client_name(client_id: str) -> str | None:
        return next((f"{cl.name} ({cl.id})" for cl in c.auth.clients() if cl.id == client_id), None)

    def app_name(app_id: str) -> str | None:
        return next((f"{a.name} ({a.app_id})" for a in c.portability.apps() if a.app_id == app_id), None)

    async def ask(request: Request, who: Who, form: Any, target: str | None, **values: Any) -> Response | None:
        """The confirmation page (or a 404 for an unknown target) until the form says `confirmed=yes`."""
        if target is None:
            return await page(request, who, status=404, error=guard.web.gettext(request, N_("Not found")))
        texts = {k: guard.web.gettext(request, v) for k, v in values.items() if k in ("title", "what", "button")}
        return guard.confirm(request, who, form, {**values, **texts, "target": target, "back": back}, "integrations")

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
        return done(request, who, N_("API client created."), {"client_id": client_id, "secret": secret})

    @router.post("/integrations/clients/{client_id}/rotate")
    async def rotate(request: Request, client_id: str) -> Response:
        who, form = await guard.action(request, "integrations.manage")
        asked = await ask(
            request,
            who,
            form,
            await run_in_threadpool(client_name, client_id),
            title=N_("Rotate this client's secret?"),
            what=N_(
                "A new secret is made and shown once. The current secret stops working at once: the client "
                "cannot get new tokens until it is given the new secret."
            ),
            button=N_("Rotate secret"),
        )
        if asked is not None:
            return asked
        try:
            secret = await run_in_threadpool(c.auth.rotate_secret, client_id)
        except DsarError as exc:
            return await page(request, who, status=404, error=exc.message)
        await run_in_threadpool(c.operators.record, who.operator.email, "client_rotated", client_id)
        return done(
            request,
            who,
            N_("The secret is rotated; the old one no longer works."),
            {"client_id": client_id, "secret": secret},
        )

    @router.post("/integrations/clients/{client_id}/revoke")
    async def revoke(request: Request, client_id: str) -> Response:
        who, form = await guard.action(request, "integrations.manage")
        asked = await ask(
            request,
            who,
            form,
            await run_in_threadpool(client_name, client_id),
            title=N_("Revoke this API client?"),
            what=N_(
                "The client can no longer get tokens and its tokens are refused. A revoked client cannot be "
                "enabled again; make a new one if needed."
            ),
            button=N_("Revoke"),
        )
        if asked is not None:
            return asked
        try:
            await run_in_threadpool(c.auth.revoke_client, client_id)
        except DsarError as exc:
            return await page(request, who, status=404, error=exc.message)
        await run_in_threadpool(c.operators.record, who.operator.email, "client_revoked", client_id)
        return done(request, who, N_("The API client is revoked."))

    @router.post("/integrations/apps")
    async def create_app(request: Request) -> Response:
        who, form = await guard.action(request, "integrations.manage")
        name, url = str(form.get("name", "")), str(form.get("notify_url", ""))
        try:
            view = await run_in_threadpool(lambda: c.portability.create_app(name, url))
        except DsarError as exc:
            return await page(request, who, status=400, error=exc.message)
        await run_in_threadpool(c.operators.record, who.operator.email, "app_created", view.app_id)
        return done(request, who, N_("Portability app created."))

    @router.post("/integrations/apps/{app_id}/revoke")
    async def revoke_app(request: Request, app_id: str) -> Response:
        who, form = await guard.action(request, "integrations.manage")
        asked = await ask(
            request,
            who,
            form,
            await run_in_threadpool(app_name, app_id),
            title=N_("Revoke every authorization of this app?"),
            what=N_(
                "Every customer's authorization of this app ends: their tokens are refused and their queries "
                "in progress end CANCELED. Customers must authorize the app again to use it."
            ),
            button=N_("Revoke every authorization"),
        )
        if asked is not None:
            return asked
        try:
            canceled = await run_in_threadpool(c.portability.revoke, app_id)
        except DsarError as exc:
            return await page(request, who, status=404, error=exc.message)
        await run_in_threadpool(c.operators.record, who.operator.email, "app_revoked", app_id, {"canceled": canceled})
        return done(request, who, N_("Every authorization of the app is revoked; queries in progress end CANCELED."))

    @router.post("/integrations/apps/{app_id}/revoke-customer")
    async def revoke_customer(request: Request, app_id: str) -> Response:
        """One customer's authorization of the app (they asked to withdraw it, or it was given in error)."""
        who, form = await guard.action(request, "integrations.manage")
        email = str(form.get("email", ""))
        try:
            parse_identity("email", email)  # a mistyped address is refused before the confirmation page
        except DsarError as exc:
            return await page(request, who, status=400, error=guard.web.gettext(request, exc.message))
        name = await run_in_threadpool(app_name, app_id)
        asked = await ask(
            request,
            who,
            form,
            name and f"{email} · {name}",
            title=N_("Revoke this customer's authorization?"),
            what=N_(
                "This customer's authorization of the app ends: their tokens are refused and their queries in "
                "progress end CANCELED. Other customers are not affected."
            ),
            button=N_("Revoke for this customer"),
            hidden={"email": email},
        )
        if asked is not None:
            return asked
        try:
            canceled = await run_in_threadpool(c.portability.revoke, app_id, email)
        except DsarError as exc:
            status = 404 if exc.code == "APP_NOT_FOUND" else 400
            return await page(request, who, status=status, error=guard.web.gettext(request, exc.message))
        details = {"canceled": canceled, "every_customer": False}  # the audit record names no customer
        await run_in_threadpool(c.operators.record, who.operator.email, "app_revoked", app_id, details)
        return done(
            request,
            who,
            N_(
                "The customer's authorization of this app is revoked; their tokens are refused and their queries "
                "in progress end CANCELED."
            ),
        )

    @router.post("/integrations/messages/{message_id}/redeliver")
    async def redeliver(request: Request, message_id: str) -> Response:
        who, _form = await guard.action(request, "integrations.manage")
        try:
            await run_in_threadpool(c.notifications.redeliver, message_id)
        except DsarError as exc:
            return await page(request, who, status=404, error=exc.message)
        await run_in_threadpool(c.operators.record, who.operator.email, "webhook_redelivered", message_id)
        return RedirectResponse(f"{PREFIX}/integrations", status_code=303)
