"""Routes of a manual step's page: `GET /steps/<token>` shows whom to search for and the answer form, `POST` answers
(CSRF-checked, files size-limited). The token is the signed, expiring link e-mailed to the respondent: no account,
and it opens this one step only. A forged, altered or expired link answers like an unknown one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from dsar.api.web import Web
from dsar.bootstrap import Container
from dsar.errors import Conflict, InvalidInput, NotFound
from dsar.manual.files import Upload

PREFIX = "/steps"


def N_(text: str) -> str:  # marks a text for the catalogs (pybabel's default keyword); translated later
    return text


_MESSAGES = {
    "BAD_FILE": N_("A file could not be read. Upload CSV (with a header row) or JSON files."),
    "BAD_FILE_TYPE": N_("Upload CSV (.csv) or JSON (.json) files."),
    "TOO_LARGE": N_("A file is too large."),
    "TOO_MANY_FILES": N_("Too many files."),
    "NO_FILES": N_("Choose at least one file, or say that there is no data."),
    "UNEXPECTED_FILES": N_("Files go with an answer that found data."),
    "BAD_OUTCOME": N_("Choose one of the answers."),
}


def steps_router(container: Container) -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)
    web = Web(container.key("manual-step-csrf"))
    limits = container.settings.manual

    def page(request: Request, template: str, values: dict[str, Any], status: int = 200) -> Response:
        """A page that is never cached (it shows whom to search for); its form's CSRF token is bound to the step."""
        brand = {"company": container.settings.company_name}
        step = values.get("step")
        return web.render(
            request,
            f"steps/{template}",
            {**brand, **values},
            status=status,
            binding=step.id if step is not None else "",
            headers={"Cache-Control": "no-store"},
        )

    def gone(request: Request) -> Response:
        title = web.gettext(request, N_("This link is not valid. It may have expired; ask for a new one."))
        return page(request, "message.html", {"title": title}, status=404)

    @router.get("/{token}")
    async def show(request: Request, token: str) -> Response:
        try:
            view = await run_in_threadpool(lambda: container.manual_steps.view_link(token))
        except NotFound:
            return gone(request)
        return page(request, "step.html", {"step": view, "token": token, "error": ""}, status=200)

    @router.post("/{token}")
    async def answer(request: Request, token: str) -> Response:
        try:
            view = await run_in_threadpool(lambda: container.manual_steps.view_link(token))
        except NotFound:
            return gone(request)
        try:
            data = await request.form(max_files=limits.max_files, max_part_size=limits.max_upload_bytes)
        except HTTPException:  # a part over the size limit, too many files, a malformed body
            error = web.gettext(request, _MESSAGES["TOO_LARGE"])
            return page(request, "step.html", {"step": view, "token": token, "error": error}, status=413)
        if not web.check_csrf(request, data, binding=view.id):
            title = web.gettext(request, N_("This form has expired. Go back, reload the page and try again."))
            return page(request, "message.html", {"title": title}, status=403)
        uploads = []
        for item in data.getlist("files"):
            if isinstance(item, UploadFile) and item.filename:
                uploads.append(Upload(item.filename, await item.read(limits.max_upload_bytes + 1)))
        outcome = str(data.get("outcome", ""))
        try:
            await run_in_threadpool(lambda: container.manual_steps.answer_link(token, outcome, uploads))
        except InvalidInput as exc:
            error = web.gettext(request, _MESSAGES.get(exc.code, N_("Choose one of the answers.")))
            return page(request, "step.html", {"step": view, "token": token, "error": error}, status=400)
        except Conflict:
            pass  # answered already (a second tab, a double submit): the page below says so
        except NotFound:
            return gone(request)
        return RedirectResponse(f"{PREFIX}/{token}", status_code=303)

    return router
