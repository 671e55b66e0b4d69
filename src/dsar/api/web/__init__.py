"""Web pages (the privacy team's console, the privacy center): templates, static files, catalogs, CSRF, headers.

`install(app, web)` mounts the static files and puts the strict security headers on every page under WEB_PREFIXES;
each face adds its own router (`console/`, `privacy/`) and renders through `Web.render`.
"""

from __future__ import annotations

from fastapi import FastAPI

from dsar.api.web.security import CSRF_FIELD, HEADERS, Csrf, SecurityHeaders, secure_request
from dsar.api.web.templating import STATIC_PATH, Web, static_files

WEB_PREFIXES = ("/console", "/privacy", "/steps", "/web")

__all__ = ["CSRF_FIELD", "HEADERS", "WEB_PREFIXES", "Csrf", "Web", "install", "secure_request"]


def install(app: FastAPI) -> None:
    """Static files at STATIC_PATH and the security headers for every page under WEB_PREFIXES."""
    app.mount(STATIC_PATH, static_files(), name="web-static")
    app.add_middleware(SecurityHeaders, prefixes=WEB_PREFIXES)
