"""Uploads on the S3 adapter (a real S3 HTTP server): presigned PUT bound to size and type, then a batch."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.api.files import DOWNLOAD, batch, create_link, start_batch
from tests.api.harness import running_api, settings_for

CSV = b"email\njane.doe@example.com\nnobody@example.com\n"


def test_presigned_put_then_batch_then_download(tmp_path: Path, demo_dir: Path, s3_bucket: str) -> None:
    settings = settings_for(tmp_path, demo_dir, storage_url=f"s3://{s3_bucket}/dsar")
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
