"""The ASGI application: every API face over one container of services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from dsar import __version__
from dsar.api import pages
from dsar.api.graphql.endpoint import graphql_router
from dsar.api.limits import BodyLimit
from dsar.api.rest.files import files_router
from dsar.api.rest.health import health_router
from dsar.api.rest.odr import odr_router
from dsar.api.rest.portability import portability_router
from dsar.api.rest.services import services_router
from dsar.api.rest.token import token_router
from dsar.api.rest.uploads import uploads_router
from dsar.api.rest.wellknown import wellknown_router
from dsar.api.web import install as install_web
from dsar.api.web.privacy import privacy_router
from dsar.api.web.steps import steps_router
from dsar.bootstrap import Container
from dsar.db.migrate import upgrade


def create_app(container: Container, *, migrate: bool = True, close: bool = False) -> FastAPI:
    """The app over `container`; `close`: the app owns the container and closes it at shutdown."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if migrate:
            await run_in_threadpool(upgrade, container.db.engine)
        container.runner.start()
        try:
            yield
        finally:
            await run_in_threadpool(container.runner.stop)
            if close:
                await run_in_threadpool(container.close)

    app = FastAPI(
        title="dsar",
        version=__version__,
        lifespan=lifespan,
        description="Answers personal-data access and deletion requests.",
        docs_url=None,  # pages.mount serves /docs and /redoc from installed files (no CDN)
        redoc_url=None,
    )
    pages.mount(app)
    install_web(app)
    app.include_router(token_router(container))
    app.include_router(graphql_router(container))
    app.include_router(health_router(container))
    app.include_router(odr_router(container))
    app.include_router(portability_router(container))
    app.include_router(wellknown_router(container))
    app.include_router(services_router(container.service_replies))
    if container.settings.privacy.enabled:
        app.include_router(privacy_router(container))
    app.include_router(steps_router(container))  # manual sources' respondents (docs/manual-sources.md)
    if container.storage.capabilities.own_download_route:
        app.include_router(files_router(container.storage))
    if not container.storage.capabilities.presigned_put:
        app.include_router(uploads_router(container))
    m = container.settings.manual
    app.add_middleware(
        BodyLimit, odr_prefix=container.settings.odr.prefix, steps_max_bytes=m.max_upload_bytes * m.max_files + 65536
    )
    app.state.container = container
    return app
