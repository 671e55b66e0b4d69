"""Uploads on the S3 adapter (a real S3 HTTP server): with encryption at rest off, a presigned PUT bound to size
and type, then a batch; with it on (the default), dsar's own upload route, and ciphertext in the bucket."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx

from tests.api.files import DOWNLOAD, batch, create_link, start_batch
from tests.api.harness import running_api, settings_for

CSV = b"email\njane.doe@example.com\nnobody@example.com\n"


def test_presigned_put_then_batch_then_download(tmp_path: Path, demo_dir: Path, s3_bucket: str) -> None:
    settings = settings_for(tmp_path, demo_dir, storage_url=f"s3://{s3_bucket}/dsar", encryption={"enabled": False})
    with running_api(settings) as api:
        url, file_id = create_link(api, len(CSV))
        query = parse_qs(urlsplit(url).query)
        assert urlsplit(url).path.endswith(f"/dsar/uploads/{file_id}.csv")
        signed = query["X-Amz-SignedHeaders"][0].split(";")
        assert {"content-length", "content-type", "host"} <= set(signed)
        assert query["X-Amz-Expires"] == ["900"]

        body = start_batch(api, file_id)  # nothing PUT yet
        assert body["errors"][0]["extensions"]["classification"]["code"] == "FileNotUploaded"
        r = httpx.put(url, content=CSV, headers={"Content-Type": "text/csv"})
        assert r.status_code == 200, r.text

        batch_id = start_batch(api, file_id)["data"]["startPersonalDataRetrievalTasks"]["batchId"]
        deadline = time.monotonic() + 30
        while (b := batch(api, batch_id))["status"] == "IN_PROGRESS":
            assert time.monotonic() < deadline, b
            time.sleep(0.05)
        assert b["status"] == "COMPLETED" and b["taskCounts"] == {"inProgress": 0, "completed": 1, "failed": 1}

        link = api.gql(DOWNLOAD % file_id).json()["data"]["downloadLink"]["downloadUrl"]
        assert httpx.get(link).content == CSV


def test_encrypted_upload_goes_through_dsar_and_is_ciphertext_in_the_bucket(
    tmp_path: Path, demo_dir: Path, s3_bucket: str
) -> None:
    settings = settings_for(tmp_path, demo_dir, storage_url=f"s3://{s3_bucket}/dsar")
    assert settings.encryption.enabled  # the default
    with running_api(settings) as api:
        url, file_id = create_link(api, len(CSV))
        assert url.startswith(f"http://testserver/uploads/{file_id}?") and "X-Amz-" not in url
        assert start_batch(api, file_id)["errors"][0]["extensions"]["classification"]["code"] == "FileNotUploaded"
        r = api.client.put(url, content=CSV, headers={"Content-Type": "text/csv"})
        assert r.status_code == 200, r.text

        client = boto3.client("s3")
        keys = [o["Key"] for o in client.list_objects_v2(Bucket=s3_bucket).get("Contents", [])]
        assert f"dsar/uploads/{file_id}.csv" in keys  # the header; its body under dsar-sealed/
        assert any("/dsar-sealed/" in key for key in keys)
        for key in keys:
            data = client.get_object(Bucket=s3_bucket, Key=key)["Body"].read()
            assert b"jane.doe@example.com" not in data and b"email\n" not in data, key

        batch_id = start_batch(api, file_id)["data"]["startPersonalDataRetrievalTasks"]["batchId"]
        deadline = time.monotonic() + 30
        while (b := batch(api, batch_id))["status"] == "IN_PROGRESS":
            assert time.monotonic() < deadline, b
            time.sleep(0.05)
        assert b["status"] == "COMPLETED" and b["taskCounts"] == {"inProgress": 0, "completed": 1, "failed": 1}

        link = api.gql(DOWNLOAD % file_id).json()["data"]["downloadLink"]["downloadUrl"]
        assert link.startswith("http://testserver/files/")
        assert api.client.get(link).content == CSV
