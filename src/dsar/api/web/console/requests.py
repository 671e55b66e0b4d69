"""The queue (filters, search, due-date order, CSV export) and a request's page with its decisions."""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from dsar.api.web.console.guard import PREFIX, Guard, Who
from dsar.api.web.i18n import N_
from dsar.errors import DsarError, InvalidInput
from dsar.kit.ids import is_uuid
from dsar.requests.queue import QueueFilter, is_reference
from dsar.requests.rules import REQUEST_TYPES
from dsar.requests.service import CHANNELS, DENIAL_BASES
from dsar.tasks import repository as tasks_repo
from dsar.tasks.states import FINAL

STATUSES = ("received", "in_progress", "completed", "denied", "canceled")
FILTER_KEYS = ("status", "type", "channel", "jurisdiction", "assignee", "due_within", "overdue", "q", "sort")
ASSIGNED_CHECKED = frozenset({"requests.comment", "requests.complete"})  # a respondent: on their own requests
STATUS_CODES = {"validation": 400, "not_found": 404, "conflict": 409, "forbidden": 403}


def _filter(params: dict[str, str]) -> QueueFilter:
    q = params.get("q", "").strip()
    due = params.get("due_within", "").strip()
    if due and not due.isdigit():
        raise InvalidInput(N_("due within: a number of days"))
    email = request_id = reference = None
    if q:
        if is_uuid(q.lower()):
            request_id = q.lower()
        elif "@" in q:
            email = q
        elif is_reference(q):
            reference = q
        else:
            raise InvalidInput(
                N_(
                    "search by a request id, its reference (its first 8 or more hex digits) "
                    "or the subject's full e-mail address"
                )
            )
    return QueueFilter(
        status=params.get("status") or "open",  # the default queue: open cases; "all" shows every one
        type=params.get("type") or None,
        channel=params.get("channel") or None,
        jurisdiction=params.get("jurisdiction") or None,
        assignee=params.get("assignee") or None,
        due_within_days=int(due) if due else None,
        overdue=params.get("overdue") in ("1", "on", "true"),
        email=email,
        request_id=request_id,
        reference=reference,
        sort=params.get("sort") or "due",
    )


def add_request_routes(router: APIRouter, guard: Guard) -> None:
    c = guard.container
    tenant = guard.tenant

    def options() -> dict[str, Any]:
        return {
            "statuses": STATUSES,
            "types": sorted(REQUEST_TYPES),
            "channels": sorted(CHANNELS),
            "bases": DENIAL_BASES,
        }

    @router.get("")
    async def home() -> Response:
        return RedirectResponse(f"{PREFIX}/requests", status_code=303)

    @router.get("/requests")
    async def queue(request: Request, after: str = "") -> Response:
        who = await guard.operator(request)
        params = {k: request.query_params.get(k, "") for k in FILTER_KEYS}
        error, page = None, None
        try:
            f = _filter(params)
            page = await run_in_threadpool(c.request_queue.page, tenant, f, first=50, after=after or None)
        except DsarError as exc:
            error = guard.web.gettext(request, exc.message)  # the console's own texts translated, others as they are
        query = urlencode({k: v for k, v in params.items() if v})
        values = {"params": params, "page": page, "error": error, "query": query, **options()}
        values["operators"] = await run_in_threadpool(c.operators.all)
        return guard.page(request, who, "console/queue.html", values, nav="requests", status=400 if error else 200)

    @router.get("/requests.csv")
    async def export(request: Request) -> Response:
        who = await guard.operator(request, "requests.export")
        params = {k: request.query_params.get(k, "") for k in FILTER_KEYS}
        try:
            f = _filter(params)
            await run_in_threadpool(
                lambda: c.request_queue.page(tenant, f, first=1)
            )  # a bad filter: 400, not a cut CSV
        except DsarError as exc:
            reason = guard.web.gettext(request, exc.message)
            return guard.page(request, who, "console/error.html", {"reason": reason}, status=400)
        detail = {"filters": {k: v for k, v in params.items() if v and k != "q"}, "search": bool(params["q"])}
        await run_in_threadpool(c.operators.record, who.operator.email, "export", "requests.csv", detail)
        return StreamingResponse(  # a plain iterator: Starlette runs it in a worker thread, page by page
            _csv(c.request_queue.export(tenant, f)),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="privacy-requests.csv"'},
        )

    async def show(request: Request, who: Who, rid: str, **extra: Any) -> Response:
        status = extra.pop("status", 200)
        try:
            view = await run_in_threadpool(c.requests.get, tenant, rid)
        except DsarError:
            return guard.page(request, who, "console/error.html", {"reason": "not_found"}, status=404)
        tasks = await run_in_threadpool(_tasks, c, view.task_ids)
        mine = view.assignee == who.operator.email
        values = {
            "r": view,
            "tasks": tasks,
            "mine": mine,
            "running": any(t.status not in FINAL for t in tasks),
            "extension": _extension(view, c.requests.today()),
            "revealed": None,
            "operators": await run_in_threadpool(c.operators.all),
            **options(),
            **extra,
        }
        return guard.page(request, who, "console/request.html", values, nav="requests", status=status)

    @router.get("/requests/{rid}")
    async def request_page(request: Request, rid: str) -> Response:
        who = await guard.operator(request)
        return await show(request, who, rid)

    async def assigned(rid: str, who: Who) -> bool:
        try:
            view = await run_in_threadpool(c.requests.get, tenant, rid)
        except DsarError:
            return False
        return view.assignee == who.operator.email

    @router.post("/requests/{rid}/reveal")
    async def reveal(request: Request, rid: str) -> Response:
        who, _form = await guard.action(request, "requests.read")
        if not who.may("requests.reveal", assigned=await assigned(rid, who)):
            return guard.forbidden(request, who)
        try:
            view = await run_in_threadpool(c.requests.get, tenant, rid)
        except DsarError:
            return guard.page(request, who, "console/error.html", {"reason": "not_found"}, status=404)
        identities = sorted({t.subject_email for t in await run_in_threadpool(_tasks, c, view.task_ids)})
        await run_in_threadpool(c.operators.record, who.operator.email, "reveal", rid, {"identities": len(identities)})
        return await show(request, who, rid, revealed=identities)

    @router.post("/requests/{rid}/download")
    async def download(request: Request, rid: str) -> Response:
        who, form = await guard.action(request, "requests.read")
        if not who.may("requests.download", assigned=await assigned(rid, who)):
            return guard.forbidden(request, who)
        task_id = str(form.get("task", ""))
        try:
            view = await run_in_threadpool(c.requests.get, tenant, rid)
        except DsarError:
            return guard.page(request, who, "console/error.html", {"reason": "not_found"}, status=404)
        found = [t for t in await run_in_threadpool(_tasks, c, view.task_ids) if t.id == task_id and t.result_key]
        if not found:
            return await show(
                request,
                who,
                rid,
                flash={"kind": "error", "text": guard.web.gettext(request, N_("There is no archive for this task."))},
                status=404,
            )
        await run_in_threadpool(c.operators.record, who.operator.email, "download", rid, {"task_id": task_id})
        url = c.storage.signed_url(str(found[0].result_key), c.settings.link_ttl_seconds, filename="archive.zip")
        return RedirectResponse(url, status_code=303)

    async def decide(request: Request, rid: str, action: str, permission: str) -> Response:
        who, form = await guard.action(request, permission)
        if permission in ASSIGNED_CHECKED and not who.may(permission, assigned=await assigned(rid, who)):
            return guard.forbidden(request, who)
        actor = who.operator.email
        values = {k: str(v).strip() for k, v in form.items() if isinstance(v, str)}
        try:
            if action == "approve":
                await run_in_threadpool(lambda: c.requests.approve(tenant, rid, actor=actor))
                await run_in_threadpool(_start_verified_work, c, rid)
            elif action == "deny":
                basis, law, note = values.get("basis", ""), values.get("law") or None, values.get("note", "")
                await run_in_threadpool(
                    lambda: c.requests.deny(tenant, rid, actor=actor, basis=basis, note=note, law=law)
                )
            elif action == "extend":
                reason = values.get("reason", "")
                if not reason:
                    raise InvalidInput(N_("an extension needs its reason (it is told to the person)"))
                await run_in_threadpool(lambda: c.requests.extend(tenant, rid, actor=actor, reason=reason))
            elif action == "assign":
                assignee = values.get("assignee") or None
                await run_in_threadpool(lambda: c.requests.assign(tenant, rid, actor=actor, assignee=assignee))
            elif action == "complete":
                note = values.get("note", "")
                await run_in_threadpool(lambda: c.requests.complete(tenant, rid, actor=actor, note=note))
            else:
                text = values.get("text", "")
                await run_in_threadpool(lambda: c.requests.comment(tenant, rid, actor=actor, text=text))
        except DsarError as exc:
            flash = {"kind": "error", "text": guard.web.gettext(request, exc.message)}
            return await show(request, who, rid, flash=flash, status=STATUS_CODES.get(exc.kind, 400))
        detail = {k: values[k] for k in ("basis", "law", "assignee") if values.get(k)}
        await run_in_threadpool(c.operators.record, actor, action, rid, detail or None)
        return RedirectResponse(f"{PREFIX}/requests/{rid}?done={action}", status_code=303)

    for name, permission in (
        ("approve", "requests.decide"),
        ("deny", "requests.decide"),
        ("extend", "requests.decide"),
        ("assign", "requests.assign"),
        ("comment", "requests.comment"),
        ("complete", "requests.complete"),
    ):

        def route(name: str = name, permission: str = permission) -> None:
            @router.post(f"/requests/{{rid}}/{name}", name=f"console-{name}")
            async def act(request: Request, rid: str) -> Response:
                return await decide(request, rid, name, permission)

        route()


def _extension(view: Any, today: Any) -> str | None:
    """ "open": the one extension may still be asked (on or before the first due date); "passed": it may not any
    more; None: the rule allows none, it was used, or the request is over (nothing to say)."""
    if view.status not in ("received", "in_progress") or view.extendable_until is None or view.extended_on:
        return None
    if view.due_on == view.extendable_until:
        return None
    return "open" if today <= view.due_on else "passed"


def _start_verified_work(c: Any, rid: str) -> None:
    """A privacy center request the team just approved starts its engine work now, not at the center's next
    periodic run (which would start it anyway); other requests are left as they are."""
    with contextlib.suppress(DsarError):  # not the center's, or not ready: its periodic job decides
        c.privacy_center.start_work(rid)


def _tasks(c: Any, ids: list[str]) -> list[Any]:
    with c.db.session(write=False) as s:
        found = [tasks_repo.record(s, tid) for tid in ids]
    return [t for t in found if t is not None]


def _csv(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    out = io.StringIO()
    writer: Any = None
    for row in rows:
        if writer is None:
            writer = csv.DictWriter(out, fieldnames=list(row))
            writer.writeheader()
        writer.writerow(row)
        yield out.getvalue()
        out.seek(0)
        out.truncate()
    if writer is None:
        yield "request_id,type,channel,jurisdiction,status,subject,received_at,due_on,days_left,overdue,assignee\n"
