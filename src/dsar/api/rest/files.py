"""The `/files/{key}` route: serves stored objects behind dsar's own signed, expiring links.

Mounted when the storage adapter declares `capabilities.own_download_route`. The route parses the request,
asks the adapter for its verdict on the link (`check_link`, in `dsar.storage.links`) and for the object,
and translates: a local file is sent with Range, ETag and conditional requests (Starlette's FileResponse);
an object that is not a file here (encrypted storage, the memory adapter) is streamed from the adapter's
reader, with single `Range`s when that reader can seek (encrypted storage decrypts only the chunks a range
needs). A stored object that fails its integrity check is never sent: before the first byte the answer is
a 500 error, after it the connection is cut short of the announced length; nor is one sealed under a key
this server does not have (a 500 error saying so).
"""

from __future__ import annotations

import mimetypes
import os
import re
from collections.abc import Iterator
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import BinaryIO
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from dsar.errors import NotFound
from dsar.storage.base import Storage, StoredObjectCorrupt
from dsar.storage.keyring import KeyUnavailable
from dsar.storage.links import LinkCheck

# Sent with every answer of this route, errors included: downloads are personal data.
_PRIVATE_HEADERS = {"cache-control": "private, no-store", "x-content-type-options": "nosniff"}
_NOT_MODIFIED_HEADERS = ("cache-control", "etag", "last-modified", "x-content-type-options")

_INT_RANGE = re.compile(r"([0-9]{1,19})-([0-9]{0,19})")
_SUFFIX_RANGE = re.compile(r"-([0-9]{1,19})")
_UNSAFE_FILENAME_CHARS = re.compile(r"[^A-Za-z0-9._ ()+-]")


def _error(status_code: int, error: str, message: str) -> JSONResponse:
    return JSONResponse({"error": error, "message": message}, status_code=status_code, headers=_PRIVATE_HEADERS)


def _media_type(key: str) -> str:
    if key.lower().endswith(".zip"):
        return "application/zip"
    media_type, encoding = mimetypes.guess_type(key, strict=False)
    if media_type is None or encoding is not None:
        return "application/octet-stream"
    return media_type


def _content_disposition(filename: str) -> str:
    """`attachment; filename="..."` with an ASCII fallback, plus RFC 6266 `filename*` when needed."""
    fallback = _UNSAFE_FILENAME_CHARS.sub("_", filename)
    value = f'attachment; filename="{fallback}"'
    if fallback != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value


def _normalise_range(header: str | None, size: int) -> str | None:
    """An RFC 9110 `Range` for Starlette, or None to ignore it (invalid syntax or another unit)."""
    if header is None or "=" not in header:
        return None
    unit, _, range_set = header.partition("=")
    if unit.strip().lower() != "bytes":
        return None
    specs: list[str] = []
    satisfiable: list[str] = []
    for element in range_set.split(","):
        spec = element.strip()
        if not spec:
            continue
        if match := _INT_RANGE.fullmatch(spec):
            first, last = match.group(1), match.group(2)
            if last and int(last) < int(first):
                return None
            ok = int(first) < size
        elif match := _SUFFIX_RANGE.fullmatch(spec):
            ok = int(match.group(1)) > 0 and size > 0
        else:
            return None
        specs.append(spec)
        if ok:
            satisfiable.append(spec)
    if not specs:
        return None
    # Unsatisfiable parts are dropped (RFC 9110 §14.1.1); when none is left, Starlette answers 416.
    return "bytes=" + ",".join(satisfiable or specs)


def _not_modified(request: Headers, response: MutableHeaders, mtime: float) -> bool:
    """RFC 9110 §13.2.2 for GET/HEAD: If-None-Match (weak comparison) wins over If-Modified-Since."""
    if_none_match = request.get("if-none-match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or response["etag"].removeprefix("W/") in tags
    if_modified_since = request.get("if-modified-since")
    if if_modified_since is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError, IndexError, OverflowError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return int(mtime) <= since.timestamp()


class _DownloadResponse(FileResponse):
    """FileResponse with a vetted Range header and the private headers on every answer (206, 416 too)."""

    # Starlette reads 64 KiB per `await file.read()`, each read a hop to a worker thread; 1 MiB reads make
    # 16 times fewer hops and send() calls (B7 in docs/performance.md: 1 GB over loopback).
    chunk_size = 1 << 20

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        range_header: str | None,
        headers: dict[str, str],
        media_type: str,
        stat_result: os.stat_result,
    ) -> None:
        super().__init__(path, headers=headers, media_type=media_type, stat_result=stat_result)
        self._range_header = range_header

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = [(name, value) for name, value in scope["headers"] if name != b"range"]
        if self._range_header is not None:
            raw.append((b"range", self._range_header.encode("latin-1")))

        async def send_private(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _PRIVATE_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await super().__call__({**scope, "headers": raw}, receive, send_private)


_STREAM_READ = 1 << 20


def _single_range(header: str | None, size: int) -> tuple[int, int] | bool | None:
    """(first, last) of one satisfiable byte range; None to send the whole object (no Range, an invalid one, or
    several: RFC 9110 §14.2 lets a server ignore them); False when nothing of it is satisfiable (416)."""
    normalised = _normalise_range(header, size)
    if normalised is None:
        return None
    specs = normalised.removeprefix("bytes=").split(",")
    if len(specs) != 1:
        return None
    spec = specs[0]
    if match := _SUFFIX_RANGE.fullmatch(spec):
        length = int(match.group(1))
        return (max(0, size - length), size - 1) if size > 0 and length > 0 else False
    first_text, _, last_text = spec.partition("-")
    first = int(first_text)
    if first >= size:
        return False
    last = min(int(last_text), size - 1) if last_text else size - 1
    return first, last


def _pieces(handle: BinaryIO, first: bytes, left: int) -> Iterator[bytes]:
    """The first piece (read before the answer started), then the rest; the handle is closed at the end."""
    try:
        yield first
        while left > 0:
            piece = handle.read(min(_STREAM_READ, left))
            if not piece:
                return
            left -= len(piece)
            yield piece
    finally:
        handle.close()


def _stream(storage: Storage, key: str, request: Request, headers: dict[str, str], media_type: str) -> Response:
    """An object that is not a file here: streamed, one byte range if asked for and the reader can seek."""
    size = storage.size(key)
    handle = storage.open(key)
    try:
        seekable = handle.seekable()
        wanted = _single_range(request.headers.get("range"), size) if seekable else None
        if request.headers.get("if-range") is not None:  # no validators to compare with: send it whole
            wanted = None
        if seekable:
            headers = {**headers, "accept-ranges": "bytes"}
        if wanted is False:
            handle.close()
            return Response(status_code=416, headers={**headers, "content-range": f"bytes */{size}"})
        status, start, length = 200, 0, size
        if isinstance(wanted, tuple):
            status, start, length = 206, wanted[0], wanted[1] - wanted[0] + 1
            headers = {**headers, "content-range": f"bytes {wanted[0]}-{wanted[1]}/{size}"}
            handle.seek(start)
        headers = {**headers, "content-length": str(length)}
        if request.method == "HEAD":
            handle.close()
            return Response(status_code=status, headers=headers, media_type=media_type)
        first = handle.read(min(_STREAM_READ, length))  # a corrupt start is an error answer, not a cut stream
    except BaseException:
        handle.close()
        raise
    return StreamingResponse(
        _pieces(handle, first, length - len(first)), status_code=status, headers=headers, media_type=media_type
    )


def files_router(storage: Storage) -> APIRouter:
    """`GET`/`HEAD /files/{key}`: 403 for a bad or expired link, 404 for a missing object, else the file."""
    router = APIRouter()

    @router.api_route("/files/{key:path}", methods=["GET", "HEAD"], include_in_schema=False)
    def download_file(key: str, request: Request) -> Response:
        params = request.query_params
        filename = params.get("filename") or None
        verdict = storage.check_link(key, params.get("expires", ""), params.get("signature", ""), filename)
        if verdict is LinkCheck.EXPIRED:
            return _error(403, "AccessDenied", "The link has expired.")
        if verdict is not LinkCheck.VALID:
            return _error(403, "AccessDenied", "The link signature is not valid.")
        disposition = _content_disposition(filename or key.rsplit("/", 1)[-1])
        try:
            file = storage.local_file(key)
            if file is None:
                headers = {**_PRIVATE_HEADERS, "content-disposition": disposition}
                return _stream(storage, key, request, headers, _media_type(key))
        except NotFound:
            return _error(404, "NotFound", "The requested file does not exist.")
        except StoredObjectCorrupt:
            return _error(500, "InternalError", "The stored file failed its integrity check.")
        except KeyUnavailable:  # sealed under a key this server lacks (encryption turned off, a key removed)
            return _error(500, "InternalError", "The stored file is encrypted under a key this server does not have.")
        stat_result = file.stat
        headers = {**_PRIVATE_HEADERS, "content-disposition": disposition, "accept-ranges": "bytes"}
        response = _DownloadResponse(
            file.path,
            range_header=_normalise_range(request.headers.get("range"), stat_result.st_size),
            headers=headers,
            media_type=_media_type(key),
            stat_result=stat_result,
        )
        if _not_modified(request.headers, response.headers, stat_result.st_mtime):
            kept = {name: response.headers[name] for name in _NOT_MODIFIED_HEADERS if name in response.headers}
            return Response(status_code=304, headers=kept)
        return response

    return router


__all__ = ["files_router"]
