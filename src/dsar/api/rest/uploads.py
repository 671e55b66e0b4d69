"""`PUT /uploads/{fileId}?expires=..&signature=..`: the upload links of the local storage backend.

Checks, before reading any of the body: the signature (bound to the file id, its declared size and content
type) and the expiry, that the link was not used yet, `Content-Length` equal to the declared size and the
content type. The body is then streamed to storage (atomically) through a check that refuses binary content;
on success the answer is 200 with an `ETag` (the hex MD5 of the body, as S3 gives it).
"""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import anyio.from_thread
import anyio.to_thread
from fastapi import APIRouter, Request
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response

from dsar.bootstrap import Container
from dsar.errors import AccessDenied, Conflict, DsarError, NotFound, Unavailable
from dsar.uploads.errors import FileProblem
from dsar.uploads.service import PutRefused, Received, UploadView

_HEADERS = {"cache-control": "no-store", "x-content-type-options": "nosniff"}
_STATUS = {
    "MissingContentLength": (411, "MissingContentLength"),
    "EntityTooLarge": (413, "EntityTooLarge"),
    "ContentLengthMismatch": (400, "ContentLengthMismatch"),
    "ContentTypeMismatch": (415, "ContentTypeMismatch"),
    "IncompleteBody": (400, "IncompleteBody"),
}


def _error(status_code: int, error: str, message: str) -> JSONResponse:
    return JSONResponse({"error": error, "message": message}, status_code=status_code, headers=_HEADERS)


def _answer(exc: DsarError) -> JSONResponse:
    if isinstance(exc, Unavailable):  # an outage (the storage directory went away): a 500, as any failure
        raise exc
    if isinstance(exc, AccessDenied):
        return _error(403, "AccessDenied", exc.message)
    if isinstance(exc, Conflict):
        return _error(409, exc.code, exc.message)
    if isinstance(exc, FileProblem):
        return _error(422, "InvalidFile", exc.reason)
    if isinstance(exc, NotFound):
        return _error(404, "NotFound", "The upload does not exist (it may have expired).")
    status, error = _STATUS.get(exc.code, (400, exc.code))
    return _error(status, error, exc.message)


async def _store(container: Container, view: UploadView, request: Request) -> Received:
    """Stream the body from the event loop to `Uploads.receive` in a worker thread, a few chunks at a time."""
    send, receive = anyio.create_memory_object_stream[bytes](max_buffer_size=4)

    async def pump() -> None:
        async with send:
            try:
                async for chunk in request.stream():
                    if chunk:
                        await send.send(chunk)
            except (ClientDisconnect, anyio.BrokenResourceError, anyio.ClosedResourceError):
                return  # the reader counts the bytes and refuses a short body

    def chunks() -> Iterator[bytes]:
        while True:
            try:
                yield anyio.from_thread.run(receive.receive)
            except anyio.EndOfStream:
                return

    def work() -> Received:
        try:
            return container.uploads.receive(view, chunks())
        finally:
            anyio.from_thread.run_sync(receive.close)

    outcome: Received | Exception
    async with anyio.create_task_group() as tg:
        tg.start_soon(pump)
        try:
            outcome = await anyio.to_thread.run_sync(work)
        except Exception as exc:  # raised outside the task group, so not wrapped in an exception group
            outcome = exc
        finally:
            tg.cancel_scope.cancel()
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def uploads_router(container: Container) -> APIRouter:
    router = APIRouter()

    @router.put("/uploads/{file_id}", include_in_schema=False)
    async def upload(file_id: str, request: Request) -> Response:
        params = request.query_params
        uploads = container.uploads
        try:
            view = await anyio.to_thread.run_sync(
                uploads.authorize_put, file_id, params.get("expires", ""), params.get("signature", "")
            )
            if "content-length" not in request.headers and "transfer-encoding" in request.headers:
                raise PutRefused(
                    "Content-Length is required; chunked uploads are not accepted.", code="MissingContentLength"
                )
            uploads.check_put_headers(view, request.headers.get("content-length"), request.headers.get("content-type"))
            received = await _store(container, view, request)
        except DsarError as exc:
            return _answer(exc)
        return Response(status_code=200, headers={**_HEADERS, "etag": f'"{received.md5}"'})

    return router


__all__ = ["uploads_router"]
