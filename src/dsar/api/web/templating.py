"""The web tier's one Jinja2 environment and the `render` every page goes through.

Templates live in this package (`templates/`, one folder per face: `console/`, `privacy/`), autoescaped.
`render` gives each template the reader's translations (`_`, `gettext`, `ngettext`, `{% trans %}`), a `fmt` that
formats dates and numbers in the reader's locale, the CSRF token for its forms, and the URL of the static files.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from dsar.api.web.i18n import Formatter, negotiate, translations
from dsar.api.web.security import CSRF_FIELD, Csrf

PACKAGE_DIR = Path(str(files("dsar.api.web")))
STATIC_PATH = "/web/static"


def _translate(context: Context, text: str) -> str:
    catalog = context.get("_translations")
    return text if catalog is None else str(catalog.gettext(text))


@pass_context
def _gettext(context: Context, text: str, **variables: Any) -> str:
    result = _translate(context, text)
    if context.eval_ctx.autoescape:
        result = Markup(result)  # noqa: S704  # our catalog's text; the variables are escaped by %
    return result % variables if variables else result  # Markup % escapes the variables


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int, **variables: Any) -> str:
    catalog = context.get("_translations")
    result = (singular if n == 1 else plural) if catalog is None else str(catalog.ngettext(singular, plural, n))
    if context.eval_ctx.autoescape:
        result = Markup(result)  # noqa: S704  # our catalog's text; the variables are escaped by %
    variables.setdefault("num", n)
    return result % variables


def make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(PACKAGE_DIR / "templates")),
        autoescape=select_autoescape(["html", "svg", "xml"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(gettext=_gettext, _=_gettext, ngettext=_ngettext)
    env.newstyle_gettext = True  # type: ignore[attr-defined]  # {% trans %} passes its variables by name
    return env


class Web:
    """Rendering and CSRF for the pages of one app; `csrf_key` is derived from the master key."""

    def __init__(self, csrf_key: bytes, *, zone: Any = None) -> None:
        self.env = make_environment()
        self.csrf = Csrf(csrf_key)
        self.zone = zone

    def context(self, request: Request, binding: str = "") -> dict[str, Any]:
        locale = negotiate(request)
        return {
            "request": request,
            "lang": locale,
            "_translations": translations(locale),
            "fmt": Formatter(locale, self.zone) if self.zone is not None else Formatter(locale),
            "csrf_field": CSRF_FIELD,
            "csrf_token": self.csrf.token(request, binding),
            "static": f"{request.scope.get('root_path', '')}{STATIC_PATH}",
        }

    def render(
        self,
        request: Request,
        template: str,
        values: Mapping[str, Any] | None = None,
        *,
        status: int = 200,
        binding: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        """The page `template` with `values`; sets the CSRF cookie the page's forms need."""
        context = self.context(request, binding)
        context.update(values or {})
        body = self.env.get_template(template).render(context)
        response = HTMLResponse(body, status_code=status, headers=dict(headers or {}))
        self.csrf.set_cookie(request, response)
        return response

    def check_csrf(self, request: Request, form: Mapping[str, Any], binding: str = "") -> bool:
        return self.csrf.valid(request, form.get(CSRF_FIELD), binding)

    def gettext(self, request: Request, text: str) -> str:
        """A text outside templates (flash messages, errors) in the reader's language; a text the catalogs do not
        hold (an error message of a service) comes back as it is."""
        if not text:  # gettext("") is the catalog's header
            return text
        return str(translations(negotiate(request)).gettext(text))


def static_files() -> StaticFiles:
    """The web pages' CSS, icons and (optional) scripts, mounted at STATIC_PATH."""
    return StaticFiles(directory=PACKAGE_DIR / "static")
