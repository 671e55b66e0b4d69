"""The web foundation: strict headers on every page, CSRF on every form, translated texts and locale dates."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from fastapi.testclient import TestClient

from dsar.api.web import CSRF_FIELD, HEADERS, Web, install
from dsar.api.web.i18n import Formatter, translations

KEY = b"k" * 32


def _app() -> FastAPI:
    app = FastAPI()
    install(app)
    web = Web(KEY)

    @app.get("/console/page")
    async def page(request: Request) -> HTMLResponse:
        return web.render(request, "base.html")

    @app.post("/console/form")
    async def form(request: Request) -> Any:
        data = await request.form()
        if not web.check_csrf(request, data, binding="s1"):
            return PlainTextResponse("forged", status_code=403)
        return PlainTextResponse("ok")

    @app.get("/console/token")
    async def token(request: Request) -> HTMLResponse:
        response = HTMLResponse(web.csrf.token(request, "s1"))
        web.csrf.set_cookie(request, response)
        return response

    return app


def test_every_page_carries_the_strict_headers_and_the_css_is_served() -> None:
    client = TestClient(_app())
    r = client.get("/console/page")
    assert r.status_code == 200
    for name, value in HEADERS.items():
        assert r.headers[name] == value
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["cache-control"] == "no-store"
    assert 'lang="en"' in r.text and "Skip to content" in r.text
    css = client.get("/web/static/web.css")
    assert css.status_code == 200 and ":focus-visible" in css.text
    assert css.headers["x-content-type-options"] == "nosniff"


def test_a_form_passes_with_its_token_and_a_forged_or_missing_one_is_refused() -> None:
    client = TestClient(_app())
    token = client.get("/console/token").text
    assert client.cookies.get("dsar_csrf")
    assert client.post("/console/form", data={CSRF_FIELD: token}).text == "ok"
    nonce = token.split(".")[0]
    assert client.post("/console/form", data={CSRF_FIELD: nonce + ".forged"}).status_code == 403
    assert client.post("/console/form", data={}).status_code == 403
    # a token made for another session does not pass
    other = Web(KEY).csrf._mac(nonce, "s2")
    assert client.post("/console/form", data={CSRF_FIELD: f"{nonce}.{other}"}).status_code == 403
    # without the cookie (a cross-site form cannot send SameSite=Strict cookies) the token alone fails
    fresh = TestClient(_app())
    assert fresh.post("/console/form", data={CSRF_FIELD: token}).status_code == 403


def test_a_template_escapes_and_translates() -> None:
    web = Web(KEY)
    template = web.env.from_string("{{ value }} {{ _('Skip to content') }} {{ _('%(n)s left', n=value) }}")
    out = template.render(value="<b>", _translations=translations("en"))
    assert out == "&lt;b&gt; Skip to content &lt;b&gt; left"


def test_dates_and_numbers_follow_the_locale() -> None:
    moment = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    assert Formatter("en").date(moment) == "Mar 1, 2026"
    assert Formatter("de").date(moment) == "01.03.2026"
    assert Formatter("fr").number(1234567) == "1\u202f234\u202f567"
    from zoneinfo import ZoneInfo

    assert Formatter("en", ZoneInfo("Europe/Paris")).date(moment) == "Mar 2, 2026"


def test_the_language_comes_from_the_page_then_the_cookie_then_the_header() -> None:
    from starlette.requests import Request

    from dsar.api.web.i18n import available_locales, negotiate

    def ask(query: str = "", cookie: str = "", header: str = "") -> str:
        headers = [(b"accept-language", header.encode())] if header else []
        if cookie:
            headers.append((b"cookie", f"dsar_lang={cookie}".encode()))
        return negotiate(Request({"type": "http", "query_string": query.encode(), "headers": headers}))

    assert "en" in available_locales()
    assert ask() == "en"
    assert ask(header="en-GB,en;q=0.9") == "en"
    assert ask(header="xx-YY") == "en"  # nothing we have: English
    assert ask(query="lang=zz", cookie="qq", header="en") == "en"  # unknown choices are ignored
    assert ask(query="lang=en") == "en"
