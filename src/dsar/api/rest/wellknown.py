"""`GET /.well-known/jwks.json`: the public keys that sign retrieval archives (docs/archive-format.md)."""

from __future__ import annotations

import json

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from dsar.bootstrap import Container

JWKS_TYPE = "application/jwk-set+json"
# Shorter than the day a new key is published before it signs, so no cache misses a key that signs.
CACHE = "public, max-age=3600"


def wellknown_router(container: Container) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get(
        "/.well-known/jwks.json",
        summary="Archive signing keys (JWK Set): Ed25519, with the window in which each key signs (nbf/exp)",
        include_in_schema=False,
    )
    async def jwks() -> Response:
        doc = await run_in_threadpool(container.archive_keys.jwks, container.clock.now())
        body = json.dumps(doc, indent=2, sort_keys=True).encode() + b"\n"
        return Response(body, media_type=JWKS_TYPE, headers={"Cache-Control": CACHE})

    return router
