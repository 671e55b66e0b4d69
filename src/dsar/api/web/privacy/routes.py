"""Routes of the privacy center. Every form posts back here (CSRF-checked) and answers with a redirect (so a
reload never posts twice) or the same page with the error tied to its field. The status pages need a verified
check, held in an HttpOnly, SameSite=Strict cookie (never in a URL)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from dsar.api.web import Web, secure_request
from dsar.api.web.i18n import available_locales, negotiate
from dsar.bootstrap import Container
from dsar.errors import Conflict, DsarError, InvalidInput, NotFound, Unavailable
from dsar.verification.center import DOCUMENT_TYPES, MAX_DOCUMENT, Agent, PrivacyCenter
from dsar.verification.places import places

PREFIX = "/privacy"


def N_(text: str) -> str:  # marks a text for the catalogs (pybabel's default keyword); translated later
    return text


SESSION_COOKIE = "dsar_privacy"
PENDING_COOKIE = "dsar_privacy_check"  # the status check this browser started: only it may turn into a session
GPC_COOKIE = "dsar_gpc"
LANG_COOKIE = "dsar_lang"


def privacy_router(container: Container) -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)
    web = Web(container.key("privacy-center-csrf"))
    settings = container.settings.privacy

    def center() -> PrivacyCenter:
        return container.privacy_center

    def brand(request: Request) -> dict[str, Any]:
        lang = negotiate(request)
        return {
            "company": container.settings.company_name,
            "logo": settings.logo_file is not None,
            "languages": [code for code in settings.languages if code in available_locales()],
            "path": request.url.path,
            "lang": lang,
        }

    def page(request: Request, template: str, values: dict[str, Any] | None = None, status: int = 200) -> Response:
        response = web.render(request, f"privacy/{template}", {**brand(request), **(values or {})}, status=status)
        asked = request.query_params.get("lang")
        if asked and asked in available_locales():  # the switcher's choice sticks
            response.set_cookie(LANG_COOKIE, asked, httponly=True, samesite="lax", secure=secure_request(request))
        return response

    async def form(request: Request) -> FormData | None:
        data = await request.form(max_part_size=MAX_DOCUMENT + 1024)
        return data if web.check_csrf(request, data) else None

    def forbidden(request: Request) -> Response:
        text = web.gettext(request, N_("This form has expired. Go back, reload the page and try again."))
        return page(request, "message.html", {"title": text, "text": ""}, status=403)

    async def call(fn: Callable[[], Any]) -> Any:
        return await run_in_threadpool(fn)

    # -- the home page and submitting -----------------------------------------------------------------------

    @router.get("")
    async def home(request: Request) -> Response:
        gpc = request.headers.get("sec-gpc", "").strip() == "1"
        marked = request.cookies.get(GPC_COOKIE) == "1"
        session = request.cookies.get(SESSION_COOKIE, "")
        if gpc and session:  # a consumer we know: their opt-out is recorded once, as a case of theirs (§7025(c)(1))
            await call(lambda: center().record_gpc(session))
        response = page(request, "home.html", _submit_values(request, center()) | {"gpc": gpc})
        if gpc and not marked:  # the browser is marked as opted out; an anonymous browser opens no case
            response.set_cookie(
                GPC_COOKIE, "1", max_age=365 * 86400, httponly=True, samesite="lax", secure=secure_request(request)
            )
        return response

    @router.get("/brand.css")
    async def brand_css() -> Response:
        c = settings.primary_color
        css = (
            f":root{{--accent:{c};--accent-dark:{c};}}.topbar{{background:{c};}}"
            ".pc-wide{max-width:40rem}.pc-logo{height:24px;width:auto}.nav-user a{color:#fff}"
        )
        return PlainTextResponse(css, media_type="text/css", headers={"Cache-Control": "max-age=300"})

    @router.get("/logo")
    async def logo() -> Response:
        if settings.logo_file is None or not settings.logo_file.is_file():
            return PlainTextResponse("", status_code=404)
        return FileResponse(settings.logo_file, headers={"Cache-Control": "max-age=3600"})

    @router.post("/requests")
    async def submit(request: Request) -> Response:
        data = await form(request)
        if data is None:
            return forbidden(request)
        lang = negotiate(request)
        values = _fields(data, "type", "email", "place")
        try:
            cid = await call(
                lambda: center().submit(
                    type=values["type"], email=values["email"], jurisdiction=values["place"] or None, language=lang
                )
            )
        except InvalidInput as exc:
            errors = {_field_of(exc): web.gettext(request, _MESSAGES.get(exc.code, N_("Check this field.")))}
            extra = {"errors": errors, "values": values, "gpc": False}
            return page(request, "home.html", _submit_values(request, center()) | extra, status=400)
        return RedirectResponse(f"{PREFIX}/verify/{cid}", status_code=303)

    @router.get("/agent")
    async def agent_form(request: Request) -> Response:
        return page(request, "agent.html", _submit_values(request, center()))

    @router.post("/agent")
    async def agent_submit(request: Request) -> Response:
        data = await form(request)
        if data is None:
            return forbidden(request)
        lang = negotiate(request)
        values = _fields(data, "type", "email", "place", "agent_name", "agent_email")
        upload = data.get("document")
        body, ctype = b"", ""
        if isinstance(upload, UploadFile):
            body = await upload.read(MAX_DOCUMENT + 1)
            ctype = (upload.content_type or "").split(";")[0].strip().lower()
        agent = Agent(values["agent_name"], values["agent_email"], body, ctype)
        try:
            cid = await call(
                lambda: center().submit(
                    type=values["type"],
                    email=values["email"],
                    jurisdiction=values["place"] or None,
                    language=lang,
                    agent=agent,
                )
            )
        except InvalidInput as exc:
            errors = {_field_of(exc): web.gettext(request, _MESSAGES.get(exc.code, N_("Check this field.")))}
            extra = {"errors": errors, "values": values}
            return page(request, "agent.html", _submit_values(request, center()) | extra, status=400)
        return page(request, "agent_sent.html", {"challenge": cid})

    # -- verifying ------------------------------------------------------------------------------------------

    @router.get("/verify/{cid}")
    async def verify_page(request: Request, cid: str) -> Response:
        try:
            view = await call(lambda: center().challenge(cid))
        except NotFound:
            return _expired(request)
        if view.step == "done" and view.purpose == "status":
            return _signed_in(request, cid)
        sent = request.query_params.get("sent") == "1"
        values = {"view": view, "oidc": center().oidc is not None, "errors": {}, "sent": sent}
        return page(request, "verify.html", values)

    @router.post("/verify/{cid}")
    async def verify(request: Request, cid: str) -> Response:
        data = await form(request)
        if data is None:
            return forbidden(request)
        try:
            before = await call(lambda: center().challenge(cid))
            if before.step == "data_points":
                answers = {name: str(data.get(f"dp_{name}", "")) for name, _label in before.questions}
                view = await call(lambda: center().check_answers(cid, answers))
            else:
                view = await call(lambda: center().check_code(cid, str(data.get("code", ""))))
        except NotFound:
            return _expired(request)
        except Unavailable:
            title = web.gettext(request, N_("We cannot check your answers right now. Try again in a few minutes."))
            return page(request, "message.html", {"title": title, "text": ""}, status=503)
        if view.step == "done" and view.purpose == "status":
            return _signed_in(request, cid)
        errors: dict[str, str] = {}
        if view.step == before.step and view.step in ("code", "data_points"):  # a wrong answer
            text = web.gettext(request, N_("That is not right. Tries left:"))
            errors["code" if view.step == "code" else "answers"] = f"{text} {view.tries_left}"
        status = 400 if errors else 200
        return page(request, "verify.html", {"view": view, "oidc": center().oidc is not None, "errors": errors}, status)

    @router.post("/verify/{cid}/resend")
    async def resend(request: Request, cid: str) -> Response:
        if await form(request) is None:
            return forbidden(request)
        try:
            await call(lambda: center().resend_code(cid, negotiate(request)))
        except NotFound:
            return _expired(request)
        return RedirectResponse(f"{PREFIX}/verify/{cid}?sent=1", status_code=303)

    @router.post("/verify/{cid}/oidc")
    async def verify_oidc(request: Request, cid: str) -> Response:
        if await form(request) is None:
            return forbidden(request)
        try:
            url = await call(lambda: center().oidc_url(cid))
        except (NotFound, Conflict):
            return _expired(request)
        return RedirectResponse(url, status_code=303)

    @router.get("/oidc/callback")
    async def oidc_callback(request: Request, state: str = "", code: str = "") -> Response:
        try:
            view = await call(lambda: center().finish_oidc(state, code))
        except NotFound:
            return _expired(request)
        if view.step == "done" and view.purpose == "status":
            return _signed_in(request, view.id)
        return RedirectResponse(f"{PREFIX}/verify/{view.id}", status_code=303)

    def _expired(request: Request) -> Response:
        title = web.gettext(request, N_("This link has expired"))
        text = web.gettext(request, N_("Start again from the privacy center's home page."))
        return page(request, "message.html", {"title": title, "text": text}, status=404)

    def _signed_in(request: Request, cid: str) -> Response:
        if request.cookies.get(PENDING_COOKIE) != cid:  # a verified check's URL opened in another browser
            return _expired(request)
        response = RedirectResponse(f"{PREFIX}/status/requests", status_code=303)
        response.delete_cookie(PENDING_COOKIE, path=PREFIX)
        response.set_cookie(
            SESSION_COOKIE,
            cid,
            max_age=1800,
            httponly=True,
            samesite="strict",
            secure=secure_request(request),
            path=PREFIX,
        )
        return response

    # -- following a request --------------------------------------------------------------------------------

    @router.get("/status")
    async def status_form(request: Request) -> Response:
        return page(request, "status_start.html", {"errors": {}, "values": {}})

    @router.post("/status")
    async def status_start(request: Request) -> Response:
        data = await form(request)
        if data is None:
            return forbidden(request)
        values = _fields(data, "email")
        try:
            cid = await call(lambda: center().start_status(values["email"], negotiate(request)))
        except InvalidInput as exc:
            errors = {"email": web.gettext(request, _MESSAGES.get(exc.code, N_("Check this field.")))}
            return page(request, "status_start.html", {"errors": errors, "values": values}, status=400)
        response = RedirectResponse(f"{PREFIX}/verify/{cid}", status_code=303)
        # Lax, not Strict: the company's identity provider sends the browser back here from its own site.
        response.set_cookie(
            PENDING_COOKIE,
            cid,
            max_age=3600,
            httponly=True,
            samesite="lax",
            secure=secure_request(request),
            path=PREFIX,
        )
        return response

    @router.get("/status/requests")
    async def status_list(request: Request) -> Response:
        cid = request.cookies.get(SESSION_COOKIE, "")
        try:
            items = await call(lambda: center().status(cid))
        except NotFound:
            return RedirectResponse(f"{PREFIX}/status", status_code=303)
        notice = request.query_params.get("done", "")
        return page(request, "status.html", {"items": items, "notice": notice})

    @router.post("/status/requests/{rid}/{action}")
    async def status_action(request: Request, rid: str, action: str) -> Response:
        data = await form(request)
        if data is None:
            return forbidden(request)
        cid = request.cookies.get(SESSION_COOKIE, "")
        lang = negotiate(request)
        try:
            if action == "cancel":
                if data.get("confirm") != "yes":  # one tap must not end a request for good: the confirm page first
                    return RedirectResponse(f"{PREFIX}/status/requests/{rid}/cancel", status_code=303)
                await call(lambda: center().cancel(cid, rid))
            elif action == "appeal":
                await call(lambda: center().appeal(cid, rid, str(data.get("reason", "")), lang))
            else:
                return PlainTextResponse("", status_code=404)
        except NotFound:
            return RedirectResponse(f"{PREFIX}/status", status_code=303)
        except DsarError:
            return RedirectResponse(f"{PREFIX}/status/requests?done=refused", status_code=303)
        return RedirectResponse(f"{PREFIX}/status/requests?done={action}", status_code=303)

    @router.get("/status/requests/{rid}/cancel")
    async def cancel_confirm(request: Request, rid: str) -> Response:
        cid = request.cookies.get(SESSION_COOKIE, "")
        try:
            items = await call(lambda: center().status(cid))
        except NotFound:
            return RedirectResponse(f"{PREFIX}/status", status_code=303)
        item = next((i for i in items if i.request.id == rid), None)
        if item is None or not item.can_cancel:
            return RedirectResponse(f"{PREFIX}/status/requests?done=refused", status_code=303)
        return page(request, "cancel.html", {"item": item})

    @router.get("/status/requests/{rid}/download")
    async def download(request: Request, rid: str) -> Response:
        cid = request.cookies.get(SESSION_COOKIE, "")
        try:
            url = await call(lambda: center().download_url(cid, rid))
        except NotFound:
            return RedirectResponse(f"{PREFIX}/status", status_code=303)
        return RedirectResponse(url, status_code=303)

    return router


_MESSAGES = {
    "InvalidEmail": N_("Enter a valid e-mail address."),
    "UnknownType": N_("Choose what you would like us to do."),
    "AgentName": N_("Enter the agent's name."),
    "AgentDocument": N_("Attach the signed permission as a PDF, PNG or JPEG file of at most 5 MB."),
}
_FIELDS = {"InvalidEmail": "email", "UnknownType": "type", "AgentName": "agent_name", "AgentDocument": "document"}


def _field_of(exc: InvalidInput) -> str:
    return _FIELDS.get(exc.code, "form")


def _fields(data: FormData, *names: str) -> dict[str, str]:
    return {n: str(data.get(n, "") or "").strip()[:500] for n in names}


def _submit_values(request: Request, center: PrivacyCenter) -> dict[str, Any]:
    lang = negotiate(request)
    return {
        "types": center.s.request_types,
        "places": places(center.requests.rules, lang),
        "errors": {},
        "values": {},
        "document_types": ",".join(DOCUMENT_TYPES),
    }
