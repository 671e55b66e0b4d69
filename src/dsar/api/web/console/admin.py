"""The dashboard, the audit log (read, verify, export) and operators (admin only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from dsar.api.web.console.charts import stacked_weeks
from dsar.api.web.console.guard import PREFIX, Guard
from dsar.api.web.i18n import N_, Formatter, negotiate
from dsar.errors import DsarError
from dsar.operators.roles import ROLES


def add_admin_routes(router: APIRouter, guard: Guard) -> None:
    c = guard.container
    ops = c.operators

    @router.get("/dashboard")
    async def dashboard(request: Request) -> Response:
        who = await guard.operator(request, "dashboard.read")
        board = await run_in_threadpool(c.request_queue.dashboard, guard.tenant, 12)
        fmt = Formatter(negotiate(request))
        chart = stacked_weeks(board.weeks, board.per_week, [fmt.date(w, "d MMM") for w in board.weeks])
        values = {"board": board, "chart": chart}
        return guard.page(request, who, "console/dashboard.html", values, nav="dashboard")

    @router.get("/audit")
    async def audit_log(request: Request, before: int | None = None, action: str = "") -> Response:
        who = await guard.operator(request, "audit.read")
        entries = await run_in_threadpool(lambda: ops.audit_entries(limit=100, before=before, action=action or None))
        check = await run_in_threadpool(ops.verify_audit)
        values = {"entries": entries, "check": check, "action": action}
        return guard.page(request, who, "console/audit.html", values, nav="audit")

    @router.get("/audit.{fmt}")
    async def audit_export(request: Request, fmt: str) -> Response:
        who = await guard.operator(request, "audit.read")
        try:
            body = await run_in_threadpool(lambda: ops.export_audit(fmt, actor=who.operator.email))
        except DsarError as exc:
            return guard.page(request, who, "console/error.html", {"reason": exc.message}, status=400)
        media = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
        disposition = f'attachment; filename="dsar-audit.{fmt}"'
        return Response(body, media_type=media, headers={"Content-Disposition": disposition})

    @router.get("/operators")
    async def operators(request: Request) -> Response:
        who = await guard.operator(request, "operators.manage")
        values: dict[str, Any] = {"operators": await run_in_threadpool(ops.all), "roles": ROLES, "link": None}
        values |= {"error": None, "flash": guard.take_flash(request, who)}
        return guard.page(request, who, "console/operators.html", values, nav="operators")

    @router.post("/operators")
    async def create_operator(request: Request) -> Response:
        who, form = await guard.action(request, "operators.manage")
        email, role = str(form.get("email", "")), str(form.get("role", ""))
        link, error = None, None
        try:
            _view, link = await run_in_threadpool(lambda: ops.create(email, role, actor=who.operator.email))
        except DsarError as exc:
            error = exc.message
        values = {"operators": await run_in_threadpool(ops.all), "roles": ROLES, "link": link, "error": error}
        return guard.page(request, who, "console/operators.html", values, nav="operators", status=400 if error else 200)

    @router.post("/operators/{operator_id}")
    async def change_operator(request: Request, operator_id: str) -> Response:
        who, form = await guard.action(request, "operators.manage")
        role = str(form.get("role", "")) or None
        disabled = {"disable": True, "enable": False}.get(str(form.get("state", "")))
        if disabled:
            target = next((o.email for o in await run_in_threadpool(ops.all) if o.id == operator_id), None)
            if target is None:
                return guard.page(request, who, "console/error.html", {"reason": "not_found"}, status=404)
            texts = {
                "title": N_("Disable this operator?"),
                "what": N_(
                    "They are signed out at once and can no longer sign in until an admin enables them again. "
                    "Their past actions stay in the audit log."
                ),
                "button": N_("Disable"),
            }
            values: dict[str, Any] = {k: guard.web.gettext(request, v) for k, v in texts.items()}
            values |= {"target": target, "back": f"{PREFIX}/operators", "final": False}
            values["hidden"] = {"state": "disable"}
            asked = guard.confirm(request, who, form, values, "operators")
            if asked is not None:
                return asked
        try:
            await run_in_threadpool(
                lambda: ops.change(operator_id, actor=who.operator.email, role=role, disabled=disabled)
            )
        except DsarError:
            return guard.page(request, who, "console/error.html", {"reason": "not_found"}, status=404)
        if disabled is None:
            text = N_("The operator's role is saved.")
        else:
            text = N_("The operator is disabled.") if disabled else N_("The operator is enabled.")
        flash = {"kind": "ok", "text": guard.web.gettext(request, text)}
        return guard.redirect_with_flash(request, who, flash, f"{PREFIX}/operators")
