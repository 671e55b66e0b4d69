"""The developer pages: GraphiQL (GET /graphql), Swagger UI (/docs) and ReDoc (/redoc), served offline.

Their JavaScript and CSS come from packages installed with dsar (graphene-django-graphiql-static for GraphiQL
and React, fastapi-standalone-docs for Swagger UI and ReDoc), never from a CDN; the few lines that start each
page are files under dsar/api/static, so the pages run under a Content-Security-Policy of 'self' only (no
inline script). URLs are relative, so the pages also work under a path prefix.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

# 'self' only; `data:` images and fonts are the icons and fonts inside Swagger UI's and GraphiQL's CSS (no request).
CSP = (
    "default-src 'self'; img-src 'self' data:; font-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# ReDoc writes its styles as <style> elements at run time (styled-components) and runs its search in a worker
# made from a blob: neither makes a request.
REDOC_CSP = CSP.replace("font-src", "style-src 'self' 'unsafe-inline'; worker-src 'self' blob:; font-src")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}

_GRAPHIQL = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>dsar GraphiQL</title>
<link rel="stylesheet" href="static/graphiql/graphiql.min.css">
<link rel="stylesheet" href="static/graphiql/style.css">
<link rel="stylesheet" href="static/dsar/pages.css">
<link rel="icon" href="static/fastapi/favicon.png">
</head>
<body>
<div id="graphiql" data-endpoint="graphql">Loading GraphiQL ...</div>
<script src="static/graphiql/react.production.min.js"></script>
<script src="static/graphiql/react-dom.production.min.js"></script>
<script src="static/graphiql/graphiql.min.js"></script>
<script src="static/graphiql/graphiql-plugin-explorer.umd.js"></script>
<script src="static/dsar/graphiql.js"></script>
</body>
</html>
"""

_SWAGGER = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>dsar - Swagger UI</title>
<link rel="stylesheet" href="static/swagger-ui/swagger-ui.css">
<link rel="icon" href="static/fastapi/favicon.png">
</head>
<body>
<div id="swagger-ui" data-openapi="openapi.json"></div>
<script src="static/swagger-ui/swagger-ui-bundle.js"></script>
<script src="static/dsar/swagger.js"></script>
</body>
</html>
"""

_REDOC = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>dsar - ReDoc</title>
<link rel="icon" href="static/fastapi/favicon.png">
<link rel="stylesheet" href="static/dsar/pages.css">
</head>
<body>
<div id="redoc" data-openapi="openapi.json"></div>
<script src="static/redoc/redoc.standalone.js"></script>
<script src="static/dsar/redoc.js"></script>
</body>
</html>
"""


def _package_dir(package: str, *parts: str) -> Path:
    return Path(str(files(package).joinpath(*parts)))


def graphiql_page() -> HTMLResponse:
    return HTMLResponse(_GRAPHIQL, headers=HEADERS)


def mount(app: FastAPI) -> None:
    """The asset folders under /static and the /docs and /redoc pages (the app is made with docs_url=None)."""
    standalone = _package_dir("fastapi_standalone_docs", "static")
    folders = {
        "dsar": _package_dir("dsar.api", "static"),
        "graphiql": _package_dir("graphene_django_graphiql_static", "static", "graphene_django_graphiql_static"),
        "swagger-ui": standalone / "swagger",
        "redoc": standalone / "redoc",
        "fastapi": standalone / "fastapi",
    }
    for name, folder in folders.items():
        app.mount(f"/static/{name}", StaticFiles(directory=folder), name=f"static-{name}")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return HTMLResponse(_SWAGGER, headers=HEADERS)

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return HTMLResponse(_REDOC, headers={**HEADERS, "Content-Security-Policy": REDOC_CSP})

    @app.get("/redoc/logo-mini.svg", include_in_schema=False)
    async def redoc_logo() -> FileResponse:  # ReDoc's footer asks for it beside the page
        return FileResponse(folders["redoc"] / "logo-mini.svg", media_type="image/svg+xml")
