"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from dsar.bootstrap import Container
from dsar.tasks import repository as tasks_repo


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
        except Exception as exc:
            checks["database"] = f"unavailable ({type(exc).__name__})"
        try:
            container.storage.exists("healthz/probe")
            checks["storage"] = "ok"
        except Exception as exc:
            checks["storage"] = f"unavailable ({type(exc).__name__})"
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

    @router.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(await run_in_threadpool(_metrics), media_type=CONTENT_TYPE_LATEST)

    return router
