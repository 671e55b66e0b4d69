"""S3 (or any S3-compatible server) with presigned URLs: archives, data files and uploads at scale.

Credentials and the endpoint come from the usual AWS variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
`AWS_REGION`, `AWS_ENDPOINT_URL`). A write that fits in one part (8 MiB; most archives) is one PutObject;
a larger one is a multipart upload streamed from the chunk iterator. Either way an object appears under its
key only when the write completes, so a crash never leaves a partial object visible; a multipart write
first aborts what an earlier writer of the key left unfinished, and `discard_partial` does it on demand.
"""

from __future__ import annotations

import hashlib
import io
import itertools
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, BinaryIO, cast
from urllib.parse import quote, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from dsar.errors import NotFound
from dsar.kit.clock import Clock
from dsar.storage.base import (
    Capabilities,
    ListedObject,
    StorageUnavailable,
    StoredObject,
    validate_filename,
    validate_key,
)
from dsar.storage.links import LinkCheck

PART_SIZE = 8 * 1024 * 1024  # S3's minimum part is 5 MiB (except the last)
LIST_PAGE = 1000  # keys per ListObjectsV2 page (S3's maximum): a listing holds one page in memory
_NETWORK = (EndpointConnectionError, ConnectionClosedError, ConnectTimeoutError, ReadTimeoutError)


@contextmanager
def _outages() -> Iterator[None]:
    """S3's outages as `StorageUnavailable`: no connection, a timeout, a 5xx answer, an upload S3 lost."""
    try:
        yield
    except _NETWORK as exc:
        raise StorageUnavailable(f"S3 unreachable: {type(exc).__name__}") from exc
    except ClientError as exc:
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if status >= 500 or exc.response.get("Error", {}).get("Code") == "NoSuchUpload":
            raise StorageUnavailable(f"S3 failed: {status}") from exc
        raise


class S3Storage:
    # Presigned links are S3's own: S3 checks the signed size and type of a PUT and serves GETs (Range included).
    capabilities = Capabilities(presigned_put=True, own_download_route=False)

    def __init__(self, bucket: str, prefix: str = "", client: Any = None, *, list_page: int = LIST_PAGE) -> None:
        self.bucket = bucket
        self.list_page = list_page
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = client or boto3.client(
            "s3", config=Config(retries={"max_attempts": 5, "mode": "standard"}, signature_version="s3v4")
        )

    def __repr__(self) -> str:
        return f"S3Storage(bucket={self.bucket!r}, prefix={self.prefix!r})"

    def _key(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def put_stream(
        self, key: str, chunks: Iterable[bytes], content_type: str = "application/octet-stream"
    ) -> StoredObject:
        """One PutObject, or a multipart upload past one part; on any error nothing appears under the key."""
        with _outages():
            return self._put_stream(key, chunks, content_type)

    def _put_stream(self, key: str, chunks: Iterable[bytes], content_type: str) -> StoredObject:
        full = self._key(key)
        parts = _parts(chunks, PART_SIZE)
        first = next(parts, b"")
        second = next(parts, None)
        if second is None:  # it fits in one part (most archives): one PUT, atomic, nothing partial on failure
            self.client.put_object(Bucket=self.bucket, Key=full, Body=first, ContentType=content_type)
            return StoredObject(key=key, size=len(first), sha256=hashlib.sha256(first).hexdigest())
        self.discard_partial(key)  # what an earlier writer of this key left unfinished
        return self._put_multipart(full, key, itertools.chain((first, second), parts), content_type)

    def _put_multipart(self, full: str, key: str, parts: Iterable[bytes], content_type: str) -> StoredObject:
        upload = self.client.create_multipart_upload(Bucket=self.bucket, Key=full, ContentType=content_type)
        upload_id = upload["UploadId"]
        digest, size, done = hashlib.sha256(), 0, []
        try:
            for number, body in enumerate(parts, start=1):
                digest.update(body)
                size += len(body)
                etag = self.client.upload_part(
                    Bucket=self.bucket, Key=full, UploadId=upload_id, PartNumber=number, Body=body
                )["ETag"]
                done.append({"ETag": etag, "PartNumber": number})
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=full, UploadId=upload_id, MultipartUpload={"Parts": done}
            )
        except BaseException:
            with suppress(Exception):  # S3 is down: the next multipart write of the key aborts the upload
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=full, UploadId=upload_id)
            raise
        return StoredObject(key=key, size=size, sha256=digest.hexdigest())

    def discard_partial(self, key: str) -> int:
        full = self._key(key)
        with _outages():
            found = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=full).get("Uploads", [])
            mine = [u for u in found if u["Key"] == full]
            for u in mine:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=full, UploadId=u["UploadId"])
        return len(mine)

    def _head(self, key: str) -> dict[str, Any]:
        try:
            with _outages():
                return cast(dict[str, Any], self.client.head_object(Bucket=self.bucket, Key=self._key(key)))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise NotFound("The requested file does not exist.") from None
            raise

    def exists(self, key: str) -> bool:
        try:
            self._head(key)
        except NotFound:
            return False
        return True

    def delete(self, key: str) -> None:
        with _outages():
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def open(self, key: str) -> BinaryIO:
        try:
            with _outages():
                body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise NotFound("The requested file does not exist.") from None
            raise
        return cast(BinaryIO, io.BufferedReader(_Body(body), buffer_size=256 * 1024))

    def open_at(self, key: str, offset: int) -> BinaryIO:
        """The object from byte `offset` on (one ranged GET): what a reader that jumps asks for."""
        try:
            with _outages():
                body = self.client.get_object(Bucket=self.bucket, Key=self._key(key), Range=f"bytes={offset}-")["Body"]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("404", "NoSuchKey", "NotFound"):
                raise NotFound("The requested file does not exist.") from None
            if code == "InvalidRange":  # at or past the end: nothing to read
                return cast(BinaryIO, io.BytesIO(b""))
            raise
        return cast(BinaryIO, io.BufferedReader(_Body(body), buffer_size=256 * 1024))

    def list_objects(self, prefix: str = "") -> Iterator[ListedObject]:
        """The objects under `prefix` (below this adapter's own prefix), a page of ListObjectsV2 at a time."""
        paginator = self.client.get_paginator("list_objects_v2")
        with _outages():
            pages = paginator.paginate(
                Bucket=self.bucket, Prefix=self.prefix + prefix, PaginationConfig={"PageSize": self.list_page}
            )
            for page in pages:
                for item in page.get("Contents", []):
                    yield ListedObject(str(item["Key"])[len(self.prefix) :], item["LastModified"])

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        """The keys of `list_objects`, in S3's order."""
        return (item.key for item in self.list_objects(prefix))

    def size(self, key: str) -> int:
        return int(self._head(key)["ContentLength"])

    def signed_url(self, key: str, ttl_seconds: int, *, filename: str | None = None) -> str:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(key)}
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive.")
        if filename is not None:
            name = validate_filename(filename)
            params["ResponseContentDisposition"] = f"attachment; filename*=UTF-8''{quote(name)}"
        return str(self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=ttl_seconds))

    def signed_put_url(self, key: str, ttl_seconds: int, *, size: int, content_type: str) -> str:
        """A presigned PUT bound to this exact size and content type (S3 checks both signed headers)."""
        params = {"Bucket": self.bucket, "Key": self._key(key), "ContentLength": size, "ContentType": content_type}
        return str(self.client.generate_presigned_url("put_object", Params=params, ExpiresIn=ttl_seconds))

    def check_link(self, key: str, expires: int | str, signature: str, filename: str | None) -> LinkCheck:
        """Always INVALID: this adapter's links go to S3, which checks them; dsar's `/files/` route has none."""
        return LinkCheck.INVALID

    def local_file(self, key: str) -> None:
        """None: objects live in the object store, not in files on this machine."""
        validate_key(key)
        return None


class _Body(io.RawIOBase):
    """botocore's StreamingBody as a raw file. Used as a context manager the StreamingBody hands out its
    urllib3 response, which closes itself at the end of the data: a reader that reads past the end (a CSV
    reader does) got ValueError("I/O operation on closed file") instead of b""."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


def _parts(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    buf = bytearray()
    for chunk in chunks:
        buf += chunk
        while len(buf) >= size:
            yield bytes(buf[:size])
            del buf[:size]
    if buf:
        yield bytes(buf)


def from_url(url: str, *, public_url: str, signing_key: bytes, clock: Clock) -> S3Storage:
    """`s3://bucket/prefix`; presigned URLs are S3's own, so public_url and the signing key are not used."""
    parts = urlsplit(url)
    if not parts.netloc:
        raise ValueError(f"Storage URL {url!r}: use s3://bucket/optional/prefix")
    del public_url, signing_key, clock
    return S3Storage(parts.netloc, parts.path)
