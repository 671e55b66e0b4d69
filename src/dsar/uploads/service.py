"""The temporary file store: upload links, receiving a PUT, download links, and deletion after expiry.

A file belongs to the tenant that created its link; another tenant's file id answers like an unknown one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from dsar import log
from dsar.db.engine import Database
from dsar.errors import AccessDenied, Conflict, InvalidInput, NotFound
from dsar.kit.clock import Clock
from dsar.kit.ids import is_uuid, new_id
from dsar.storage.base import Storage
from dsar.uploads import repository as repo
from dsar.uploads.csvreader import TextCheck
from dsar.uploads.errors import FileNotUploaded
from dsar.uploads.links import PutCheck, UploadLinks
from dsar.uploads.models import PENDING, RECEIVING, UPLOADED, Upload

_log = log.get("dsar.uploads")

NOT_FOUND = "Request references a resource which does not exist."


@dataclass(frozen=True)
class FileType:
    name: str
    extension: str
    content_type: str


FILE_TYPES = {"CSV": FileType("CSV", "csv", "text/csv")}


def object_key(file_id: str, file_type: str) -> str:
    return f"uploads/{file_id}.{FILE_TYPES[file_type].extension}"


@dataclass(frozen=True)
class UploadView:
    id: str
    tenant: str
    file_type: str
    content_type: str
    size: int
    status: str
    key: str


@dataclass(frozen=True)
class Received:
    """A stored upload: its size, and the hex SHA-256 and MD5 of its content (the MD5 is the ETag, as on S3)."""

    size: int
    sha256: str
    md5: str


class PutRefused(InvalidInput):
    """A PUT whose headers do not match the link (`code` names the case; the HTTP edge picks the status)."""


def _view(u: Upload) -> UploadView:
    return UploadView(u.id, u.tenant, u.file_type, u.content_type, u.size, u.status, object_key(u.id, u.file_type))


class Uploads:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        storage: Storage,
        links: UploadLinks,
        max_bytes: int,
        link_ttl_seconds: int,
        retention: timedelta,
        download_ttl_seconds: int,
    ) -> None:
        self.db, self.clock, self.storage, self.links = db, clock, storage, links
        self.max_bytes, self.link_ttl, self.retention = max_bytes, link_ttl_seconds, retention
        self.download_ttl = download_ttl_seconds

    # -- links -------------------------------------------------------------------------------------

    def create_link(self, tenant: str, file_type: str, size: int) -> tuple[str, str]:
        """Register a file of `size` bytes and answer (file id, PUT URL); the caller validated the size."""
        ft = FILE_TYPES[file_type]
        now = self.clock.now()
        file_id = new_id()
        with self.db.session() as s:
            s.add(
                Upload(
                    id=file_id,
                    tenant=tenant,
                    file_type=ft.name,
                    content_type=ft.content_type,
                    size=size,
                    status=PENDING,
                    created_at=now,
                    expires_at=now + self.retention,
                )
            )
        url = self.links.put_url(object_key(file_id, ft.name), file_id, size, ft.content_type, self.link_ttl)
        _log.info("upload_link_created", file_id=file_id, size=size)
        return file_id, url

    def download_url(self, tenant: str, file_id: str) -> str:
        view = self.uploaded(tenant, file_id, missing_is_unknown=True)
        return self.storage.signed_url(view.key, self.download_ttl, filename=view.key.rsplit("/", 1)[-1])

    # -- lookups -----------------------------------------------------------------------------------

    def get(self, tenant: str, file_id: str) -> UploadView:
        if not is_uuid(file_id):
            raise NotFound(NOT_FOUND)
        with self.db.session(write=False) as s:
            u = repo.get_upload(s, tenant, file_id, self.clock.now())
            if u is None:
                raise NotFound(NOT_FOUND)
            return _view(u)

    def uploaded(self, tenant: str, file_id: str, *, missing_is_unknown: bool = False) -> UploadView:
        """The tenant's stored file; FileNotUploaded (or NotFound) while nothing was PUT to its link yet."""
        view = self.get(tenant, file_id)
        if view.status == UPLOADED:
            return view
        if not self.links.checked_here and self._adopt(view):
            return self.get(tenant, file_id)
        if missing_is_unknown:
            raise NotFound(NOT_FOUND)
        raise FileNotUploaded()

    def _adopt(self, view: UploadView) -> bool:
        """A presigned PUT went straight to the object store: note the file once it is there at its size."""
        try:
            if self.storage.size(view.key) != view.size:
                return False
        except NotFound:
            return False
        with self.db.session() as s:
            return repo.complete_upload(s, view.id, self.clock.now(), sha256=None, md5=None)  # not read back from S3

    # -- the PUT -----------------------------------------------------------------------------------

    def authorize_put(self, file_id: str, expires: str, signature: str) -> UploadView:
        """The upload a local PUT link names, if its signature and expiry hold; reads no body."""
        links = self.links
        if not links.checked_here or not is_uuid(file_id):
            raise AccessDenied("The link signature is not valid.")
        with self.db.session(write=False) as s:
            u = repo.get_upload_for_put(s, file_id)
            view = _view(u) if u is not None else None
        if view is None:
            raise AccessDenied("The link signature is not valid.")
        verdict = links.check(file_id, expires, signature, view.size, view.content_type)
        if verdict is PutCheck.EXPIRED:
            raise AccessDenied("The link has expired.", code="LinkExpired")
        if verdict is not PutCheck.VALID:
            raise AccessDenied("The link signature is not valid.")
        if view.status == UPLOADED:
            raise Conflict("A file was already uploaded with this link; create a new upload link.", code="AlreadyUsed")
        return view

    def check_put_headers(self, view: UploadView, content_length: str | None, content_type: str | None) -> None:
        if content_length is None:
            raise PutRefused(
                f"Content-Length is required and must be {view.size}, the size given to createUploadLink.",
                code="MissingContentLength",
            )
        number = content_length.strip()
        valid = number.isascii() and number.isdigit() and len(number) <= 19
        if not valid or int(number) != view.size:
            too_large = valid and int(number) > view.size
            raise PutRefused(
                f"Content-Length must be {view.size}, the size given to createUploadLink.",
                code="EntityTooLarge" if too_large else "ContentLengthMismatch",
            )
        media, _, params = (content_type or "").partition(";")
        if media.strip().lower() != view.content_type or params.replace(" ", "").lower() not in ("", "charset=utf-8"):
            raise PutRefused(f"Content-Type must be {view.content_type}.", code="ContentTypeMismatch")

    def receive(self, view: UploadView, body: Iterable[bytes]) -> Received:
        """Store the body atomically under the file's key, refusing binary content; once per link.

        Blocking: call it from a worker thread. A failed PUT stores nothing and leaves the link usable.
        """
        now = self.clock.now()
        with self.db.session() as s:
            if not repo.claim_upload(s, view.id, now):
                u = repo.get_upload_for_put(s, view.id)
                if u is not None and u.status == RECEIVING:
                    raise Conflict("Another upload to this link is in progress.", code="UploadInProgress")
                raise Conflict(
                    "A file was already uploaded with this link; create a new upload link.", code="AlreadyUsed"
                )
        check = TextCheck()
        try:
            stored = self.storage.put_stream(view.key, _checked(body, check, view.size), content_type=view.content_type)
        except BaseException as exc:
            self._release(view.id, getattr(exc, "code", type(exc).__name__))
            raise
        try:
            with self.db.session() as s:
                done = repo.complete_upload(s, view.id, self.clock.now(), stored.sha256, check.md5.hexdigest())
        except BaseException as exc:
            self.storage.delete(view.key)
            self._release(view.id, type(exc).__name__)
            raise
        if not done:  # expired and deleted meanwhile
            self.storage.delete(view.key)
            raise NotFound(NOT_FOUND)
        _log.info("upload_received", file_id=view.id, bytes=stored.size)
        return Received(stored.size, stored.sha256, check.md5.hexdigest())

    def _release(self, file_id: str, reason: str) -> None:
        with self.db.session() as s:
            repo.release_upload(s, file_id)
        _log.info("upload_refused", file_id=file_id, reason=reason)

    # -- expiry ------------------------------------------------------------------------------------

    def delete_expired(self, now: datetime, batch: int = 500) -> int:
        """Delete every upload past its expiry: the object first, then the row (so a crash only repeats work)."""
        total = 0
        while True:
            with self.db.session(write=False) as s:
                expired = repo.expired_uploads(s, now, batch)
            if not expired:
                break
            for file_id, file_type in expired:
                key = object_key(file_id, file_type)
                self.storage.delete(key)
                self.storage.discard_partial(key)
            with self.db.session() as s:
                total += repo.delete_uploads(s, [file_id for file_id, _ in expired], now)
            if len(expired) < batch:
                break
        if total:
            _log.info("uploads_expired", count=total)
        return total


class IncompleteBody(InvalidInput):
    def __init__(self, got: int, want: int) -> None:
        super().__init__(f"The body had {got} bytes; Content-Length promised {want}.", code="IncompleteBody")


def _checked(body: Iterable[bytes], check: TextCheck, size: int) -> Iterator[bytes]:
    for chunk in body:
        if check.size + len(chunk) > size:
            raise PutRefused(f"The body is larger than {size} bytes.", code="EntityTooLarge")
        yield check.feed(chunk)
    if check.size != size:
        raise IncompleteBody(check.size, size)
    check.close()


__all__ = ["FILE_TYPES", "FileType", "PutRefused", "Received", "UploadView", "Uploads", "object_key"]
