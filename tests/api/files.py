"""Helpers for the upload tests: create a link, PUT a file to it, issue tokens for other scopes and tenants."""

from __future__ import annotations

from typing import Any

import httpx

from dsar.bootstrap import Container
from tests.api.harness import Api

CREATE = "mutation { createUploadLink(input: {fileExtension: CSV, size: %d}) { uploadUrl fileId } }"
CREATE_V2 = "mutation { createUploadLink(input: {fileType: CSV, size: %d}) { payload { uploadUrl fileId } } }"
V2 = {"x-api-version": "2024-04-01"}
DOWNLOAD = 'query { downloadLink(fileId: "%s") { downloadUrl } }'
START_BATCH = 'mutation { startPersonalDataRetrievalTasks(input: {fileId: "%s"%s}) { batchId } }'
BATCH = (
    'query { personalDataRetrievalTaskBatch(batchId: "%s") { batchId fileId status submissionDate lastUpdatedDate '
    "rowsRead tasksStarted rowsRejected taskCounts { inProgress completed failed } errors { code message } "
    "rejectedRows(first: 1000) { totalCount edges { node { line code message } } pageInfo { hasNextPage } } } }"
)


def stored_upload(container: Container, file_id: str) -> bytes:
    """An uploaded file as dsar reads it back, after checking that the objects directory holds only its
    sealed header (encryption at rest is on by default): the clear bytes never reach the disk."""
    header = container.settings.data_dir / "objects" / "uploads" / f"{file_id}.csv"
    assert header.read_bytes().startswith(b"DSAR-SEALED")
    with container.storage.open(f"uploads/{file_id}.csv") as handle:
        data = handle.read()
    assert data not in header.read_bytes()
    return bytes(data)


def token_for(api: Api, scopes: list[str], tenant: str = "default") -> str:
    cid, secret = api.container.auth.create_client("other", scopes, tenant=tenant)
    return str(api.container.auth.issue_token(cid, secret, None)["access_token"])


def create_link(api: Api, size: int, token: str | None = None) -> tuple[str, str]:
    body = api.gql(CREATE % size, token=token).json()
    assert "errors" not in body, body
    link = body["data"]["createUploadLink"]
    return str(link["uploadUrl"]), str(link["fileId"])


def put(api: Api, url: str, content: bytes, content_type: str = "text/csv", **headers: str) -> httpx.Response:
    return api.client.put(url, content=content, headers={"Content-Type": content_type, **headers})


def upload(api: Api, content: bytes, token: str | None = None) -> str:
    url, file_id = create_link(api, len(content), token)
    r = put(api, url, content)
    assert r.status_code == 200, r.text
    return file_id


def start_batch(api: Api, file_id: str, extra: str = "", token: str | None = None) -> Any:
    return api.gql(START_BATCH % (file_id, extra), token=token).json()


def batch(api: Api, batch_id: str, token: str | None = None) -> dict[str, Any]:
    body = api.gql(BATCH % batch_id, token=token).json()
    assert "errors" not in body, body
    return dict(body["data"]["personalDataRetrievalTaskBatch"])
