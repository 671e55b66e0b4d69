"""Company services' late answers: `POST /connectors/services/{source}/replies/{reply}` (docs/company-services.md).

Machine to machine, so left out of the OpenAPI document like the SNS confirmation routes: the service posts the
signed result of a request it answered `202` to the signed URL dsar named in that request.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from dsar.connectors.service_replies import ServiceReplies
from dsar.errors import DsarError

_STATUS = {"not_found": 404, "unauthenticated": 401, "validation": 413}


def services_router(replies: ServiceReplies) -> APIRouter:
    router = APIRouter(tags=["connectors"])

    @router.post("/connectors/services/{source}/replies/{reply}", include_in_schema=False)
    async def reply(source: str, reply: str, request: Request, expires: str = "", signature: str = "") -> Response:
        body = await request.body()
        try:
            await run_in_threadpool(
                replies.accept, source, reply, expires, signature, dict(request.headers.items()), body
            )
        except DsarError as exc:
            return JSONResponse({"error": exc.code, "message": exc.message}, _STATUS.get(exc.kind, 400))
        return Response(status_code=204)

    return router
