"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from dsar import log
from dsar.bootstrap import Container
from dsar.tasks import repository as tasks_repo

_log = log.get("dsar.api.health")


def _bearer_matches(header: str | None, expected: str) -> bool:
    scheme, _, token = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected.encode())


def health_router(container: Container) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    def _ready() -> dict[str, str]:
        checks = {}
        try:
            with container.db.session(write=False) as s:
                s.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # the class goes to the log, never into the answer (no internal names)
            _log.warning("readiness_database", error=type(exc).__name__)
            checks["database"] = "unavailable"
        try:
            container.storage.exists("healthz/probe")
            checks["storage"] = "ok"
        except Exception as exc:
            _log.warning("readiness_storage", error=type(exc).__name__)
            checks["storage"] = "unavailable"
        return checks

    @router.get("/readyz", summary="Readiness: the state database and the storage are reachable")
    async def readyz() -> JSONResponse:
        checks = await run_in_threadpool(_ready)
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks}, 200 if ok else 503)

    def _metrics() -> bytes:
        registry = CollectorRegistry()
        gauge = Gauge("dsar_tasks", "Privacy tasks by kind and status", ["kind", "status"], registry=registry)
        with container.db.session(write=False) as s:
            rows = tasks_repo.count_by_kind_and_status(s)
        for kind, status, count in rows:
            gauge.labels(kind, status).set(count)
        return bytes(generate_latest(registry))

    expected = container.settings.metrics_token

    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        description="With DSAR_METRICS_TOKEN set, the scraper sends `Authorization: Bearer <token>`.",
        response_class=PlainTextResponse,
        responses={
            200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}},
            401: {"description": "DSAR_METRICS_TOKEN is set and the request does not carry it"},
        },
    )
    async def metrics(authorization: str | None = Header(None, include_in_schema=False)) -> Response:
        if expected and not _bearer_matches(authorization, expected):
            return PlainTextResponse("Unauthorized\n", 401, headers={"WWW-Authenticate": 'Bearer realm="dsar-metrics"'})
        return Response(await run_in_threadpool(_metrics), media_type=CONTENT_TYPE_LATEST)

    return router
