"""The S3 adapter's own behaviour against a real S3 HTTP server (moto_server): prefixes, one PUT or a multipart
upload, aborting a dead writer's upload, presigned links followed with Range and curl.

The port's contract (writes, reads, deletes, keys, links, presigned PUTs) is tests/contract/test_storage.py."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest

from dsar.errors import NotFound
from dsar.kit.clock import SystemClock
from dsar.storage.factory import storage_from_url
from dsar.storage.s3 import S3Storage

KEY = "privacyRequest/0b7a3f52-9b0a-4c62-a1a5-2a3c1a8f1e11/result/data_retrieval.zip"


def _chunks(total: int, size: int = 65536) -> Iterator[bytes]:
    for i in range(0, total, size):
        yield bytes((i // size + j) % 251 for j in range(min(size, total - i)))


def test_storage_url_gives_the_s3_adapter(s3_bucket: str) -> None:
    st = storage_from_url(f"s3://{s3_bucket}/tenant-a", public_url="http://x", signing_key=b"k", clock=SystemClock())
    assert isinstance(st, S3Storage) and st.prefix == "tenant-a/"


def test_s3_storage_declares_presigned_links() -> None:
    assert S3Storage.capabilities.presigned_put
    assert not S3Storage.capabilities.own_download_route


def test_a_multipart_stream_lands_under_the_prefix_with_its_content_type(s3_bucket: str) -> None:
    st = S3Storage(s3_bucket, "p")
    total = 20 * 1024 * 1024 + 123  # three parts
    calls = _calls(st)
    stored = st.put_stream(KEY, _chunks(total), content_type="application/zip")
    assert calls[-5:] == ["CreateMultipartUpload"] + ["UploadPart"] * 3 + ["CompleteMultipartUpload"]
    assert stored.size == total
    assert st.local_file(KEY) is None
    head = boto3.client("s3").head_object(Bucket=s3_bucket, Key=f"p/{KEY}")
    assert head["ContentType"] == "application/zip"
    assert head["ContentLength"] == total
    st.delete(KEY)
    with pytest.raises(NotFound):
        st.size(KEY)


def _calls(st: S3Storage) -> list[str]:
    """The S3 operations the adapter's client makes from now on, in order."""
    seen: list[str] = []
    st.client.meta.events.register("before-call.s3", lambda model, **_: seen.append(model.name))
    return seen


def test_an_archive_that_fits_in_one_part_is_one_put(s3_bucket: str) -> None:
    st = S3Storage(s3_bucket)
    calls = _calls(st)
    data = b"".join(_chunks(300_000))
    stored = st.put_stream(KEY, _chunks(300_000), content_type="application/zip")
    assert calls == ["PutObject"]
    assert (stored.size, stored.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert st.open(KEY).read() == data
    assert boto3.client("s3").head_object(Bucket=s3_bucket, Key=KEY)["ContentType"] == "application/zip"
    empty = st.put_stream("empty.bin", iter(()))
    assert (empty.size, st.size("empty.bin")) == (0, 0)


def test_a_multipart_write_first_aborts_what_a_dead_writer_left(s3_bucket: str) -> None:
    st = S3Storage(s3_bucket)
    boto3.client("s3").create_multipart_upload(Bucket=s3_bucket, Key=KEY)  # an attempt killed mid-upload
    calls = _calls(st)
    total = 20 * 1024 * 1024 + 123
    st.put_stream(KEY, _chunks(total))
    assert calls[:3] == ["ListMultipartUploads", "AbortMultipartUpload", "CreateMultipartUpload"]
    assert calls[3:] == ["UploadPart"] * 3 + ["CompleteMultipartUpload"]
    assert boto3.client("s3").list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    assert st.size(KEY) == total


def test_a_failed_small_stream_leaves_nothing(s3_bucket: str) -> None:
    st = S3Storage(s3_bucket)

    def broken() -> Iterator[bytes]:
        yield b"x" * 1000
        raise RuntimeError("the archive builder failed")

    calls = _calls(st)
    with pytest.raises(RuntimeError):
        st.put_stream(KEY, broken())
    assert calls == [] and not st.exists(KEY)


def test_a_failed_stream_leaves_nothing(s3_bucket: str) -> None:
    st = S3Storage(s3_bucket)

    def broken() -> Iterator[bytes]:
        yield b"x" * (17 * 1024 * 1024)  # two parts sent, then the builder fails
        raise RuntimeError("the archive builder failed")

    with pytest.raises(RuntimeError):
        st.put_stream(KEY, broken())
    assert not st.exists(KEY)
    assert boto3.client("s3").list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []


def test_discard_partial_aborts_a_dead_writers_upload(s3_bucket: str) -> None:
    st = S3Storage(s3_bucket)
    boto3.client("s3").create_multipart_upload(Bucket=s3_bucket, Key=KEY)
    assert st.discard_partial(KEY) == 1
    assert st.discard_partial(KEY) == 0


def test_presigned_get_with_range_and_curl(s3_bucket: str, tmp_path: Path) -> None:
    st = S3Storage(s3_bucket)
    data = b"".join(_chunks(300_000))
    st.put_stream(KEY, [data])
    url = st.signed_url(KEY, 60, filename="data_retrieval.zip")
    r = httpx.get(url)
    assert r.status_code == 200 and r.content == data
    assert "data_retrieval.zip" in r.headers["content-disposition"]
    part = httpx.get(url, headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == data[1000:2000]
    out = tmp_path / "download.zip"
    subprocess.run(["curl", "-sf", "-o", str(out), url], check=True, env=dict(os.environ))
    assert out.read_bytes() == data
    # moto_server does not check signatures (S3 does): check the link is a SigV4 presigned URL for 60 s.
    query = httpx.URL(url).params
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256" and query["X-Amz-Expires"] == "60"
    assert len(query["X-Amz-Signature"]) == 64


@pytest.mark.parametrize("encrypted", [True, False], ids=["encrypted", "clear"])
def test_a_retrieval_stores_its_archive_in_s3(
    s3_bucket: str, s3_endpoint: str, tmp_path: Path, demo_dir: Path, encrypted: bool
) -> None:
    """Encryption at rest on (the default): the archive is ciphertext in the bucket and the link is dsar's own,
    decrypting on the fly. Off: the link is S3's presigned URL of the clear archive (docs/encryption.md)."""
    import io
    import zipfile

    from tests.api.harness import running_api, settings_for

    settings = settings_for(tmp_path, demo_dir, storage_url=f"s3://{s3_bucket}/dsar", encryption={"enabled": encrypted})
    with running_api(settings) as api:
        task = api.wait(api.start("jane.doe@example.com"))
        assert task["status"] == "COMPLETED"
        link = task["dataRetrievalLink"]
        if encrypted:
            assert link.startswith(f"http://testserver/files/privacyRequest/{task['taskId']}/result/")
            body = api.client.get(link).content
        else:
            assert link.startswith(f"{s3_endpoint}/{s3_bucket}/dsar/privacyRequest/{task['taskId']}/result/")
            body = httpx.get(link).content
        with zipfile.ZipFile(io.BytesIO(body)) as zf:
            assert zf.testzip() is None and "manifest.json" in zf.namelist()
    client = boto3.client("s3")
    stored = [o["Key"] for o in client.list_objects_v2(Bucket=s3_bucket).get("Contents", [])]
    assert stored
    for key in stored:
        data = client.get_object(Bucket=s3_bucket, Key=key)["Body"].read()
        if encrypted:
            assert b"PK\x03\x04" not in data and b"jane.doe@example.com" not in data, key
        elif key.endswith(".zip"):
            assert data.startswith(b"PK\x03\x04")


def test_a_listing_reads_one_page_at_a_time(s3_bucket: str) -> None:
    """ListObjectsV2 page by page: the first object comes after one page, the next page only when it is due."""
    storage = S3Storage(s3_bucket, "paged", list_page=2)
    for n in range(5):
        storage.put_stream(f"k/{n}.bin", [b"x"])
    calls: list[str] = []
    storage.client.meta.events.register("before-call.s3.ListObjectsV2", lambda **_kw: calls.append("list"))
    listing = storage.list_objects("k/")
    assert next(listing).key == "k/0.bin" and len(calls) == 1
    assert next(listing).key == "k/1.bin" and len(calls) == 1
    assert next(listing).key == "k/2.bin" and len(calls) == 2
    assert [item.key for item in listing] == ["k/3.bin", "k/4.bin"] and len(calls) == 3
