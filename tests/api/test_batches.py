"""startPersonalDataRetrievalTasks from an uploaded CSV, and the batch query, through the API and the real runner."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dsar.tasks.models import RETRIEVAL, PrivacyTask
from tests.api.files import BATCH, START_BATCH, batch, create_link, start_batch, token_for, upload
from tests.api.harness import Api, assert_validation, running_api, settings_for
from tests.api.test_bwp_examples import UUID4
from tests.conftest import fresh_pg_database

M = "startPersonalDataRetrievalTasks"
TOKEN = "a3f1c2d4-0000-4000-8000-batchtoken000001"
TASKS = (
    'query { personalDataRetrievalTaskBatch(batchId: "%s") { tasks(first: %d%s) { totalCount '
    "edges { cursor node { taskId status dataSubject { email } dataRetrievalLink errors { code } } } "
    "pageInfo { hasNextPage endCursor } } } }"
)
REJECTED = (
    'query { personalDataRetrievalTaskBatch(batchId: "%s") { rejectedRows(first: %d%s) { totalCount '
    "edges { cursor node { line code } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }"
)

MIXED = (
    "\ufeffname,Email\r\n"
    "Jane,jane.doe@example.com\r\n"  # 2: a task (COMPLETED)
    "Jane again, JANE.DOE@example.com \r\n"  # 3: the same e-mail, trimmed and in capitals
    "Bad,not-an-email\r\n"  # 4
    "Empty,\r\n"  # 5
    "\r\n"  # 6: blank, skipped
    '"Two\r\nlines",nobody@example.com\r\n'  # 7-8: a task (FAILED: not found)
    "Short\r\n"  # 9: no email cell
    '"Stray"quote,x@example.com\r\n'  # 10
    f"Long,{'a' * 250}@example.com\r\n"  # 11
).encode()
EXPECTED_REJECTIONS = [
    {"line": 3, "code": "DUPLICATE_EMAIL"},
    {"line": 4, "code": "EMAIL_INVALID"},
    {"line": 5, "code": "EMAIL_MISSING"},
    {"line": 9, "code": "EMAIL_MISSING"},
    {"line": 10, "code": "MALFORMED_ROW"},
    {"line": 11, "code": "EMAIL_TOO_LONG"},
]


@pytest.fixture(scope="module", params=[("sqlite", 1000), ("postgres", 1)], ids=["sqlite-chunk1000", "postgres-chunk1"])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, demo_dir: Path) -> Iterator[Api]:
    backend, chunk = request.param
    extra: dict[str, Any] = {"uploads": {"batch_chunk_rows": chunk}}
    with ExitStack() as stack:
        if backend == "postgres":
            extra["database_url"] = stack.enter_context(fresh_pg_database())
        yield stack.enter_context(running_api(settings_for(tmp_path_factory.mktemp("batches"), demo_dir, **extra)))


def wait_batch(api: Api, batch_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        b = batch(api, batch_id)
        if b["status"] != "IN_PROGRESS":
            return b
        time.sleep(0.05)
    raise AssertionError(f"batch {batch_id} did not finish")


def _started(api: Api, file_id: str, extra: str = "", token: str | None = None) -> str:
    body = start_batch(api, file_id, extra, token)
    assert "errors" not in body, body
    batch_id = str(body["data"][M]["batchId"])
    assert UUID4.match(batch_id)
    return batch_id


def _count(api: Api, table: str) -> int:
    with api.container.db.engine.connect() as conn:
        return int(conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() or 0)


def test_valid_invalid_and_duplicate_rows(api: Api) -> None:
    batch_id = _started(api, upload(api, MIXED))
    b = wait_batch(api, batch_id)
    assert b["status"] == "COMPLETED", b
    assert (b["rowsRead"], b["tasksStarted"], b["rowsRejected"]) == (8, 2, 6)
    assert b["taskCounts"] == {"inProgress": 0, "completed": 1, "failed": 1}
    assert b["errors"] == []
    rejected = b["rejectedRows"]
    assert rejected["totalCount"] == 6 and not rejected["pageInfo"]["hasNextPage"]
    assert [{"line": e["node"]["line"], "code": e["node"]["code"]} for e in rejected["edges"]] == EXPECTED_REJECTIONS
    assert all(e["node"]["message"] for e in rejected["edges"])
    assert "jane" not in str(rejected).lower()  # reasons never quote the file

    tasks = api.gql(TASKS % (batch_id, 10, "")).json()["data"]["personalDataRetrievalTaskBatch"]["tasks"]
    by_email = {e["node"]["dataSubject"]["email"]: e["node"] for e in tasks["edges"]}
    assert set(by_email) == {"jane.doe@example.com", "nobody@example.com"}
    assert by_email["jane.doe@example.com"]["status"] == "COMPLETED"
    assert by_email["jane.doe@example.com"]["dataRetrievalLink"]
    assert by_email["nobody@example.com"]["errors"] == [{"code": "DATA_SUBJECT_NOT_FOUND"}]
    # They are ordinary retrieval tasks: the single-task query knows them, stored as start_retrieval stores them.
    jane = by_email["jane.doe@example.com"]["taskId"]
    assert api.task(jane)["status"] == "COMPLETED"
    with api.container.db.session(write=False) as s:
        t = s.get(PrivacyTask, jane)
        assert t is not None
        assert (t.kind, t.channel, t.subject_type, t.batch_id) == (RETRIEVAL, "bwp", "SHOPPER", batch_id)
        assert t.subject_ref == api.container.tasks.subject_ref("jane.doe@example.com")


def test_pages_of_rejected_rows_and_tasks(api: Api) -> None:
    batch_id = _started(api, upload(api, MIXED))
    wait_batch(api, batch_id)
    lines, after, pages = [], "", 0
    while True:
        page = api.gql(REJECTED % (batch_id, 4, after)).json()["data"]["personalDataRetrievalTaskBatch"]["rejectedRows"]
        lines += [e["node"]["line"] for e in page["edges"]]
        pages += 1
        assert page["pageInfo"]["hasPreviousPage"] == (pages > 1)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = f', after: "{page["pageInfo"]["endCursor"]}"'
    assert lines == [3, 4, 5, 9, 10, 11] and pages == 2
    first = api.gql(TASKS % (batch_id, 1, "")).json()["data"]["personalDataRetrievalTaskBatch"]["tasks"]
    assert first["totalCount"] == 2 and first["pageInfo"]["hasNextPage"]
    rest = api.gql(TASKS % (batch_id, 1, f', after: "{first["pageInfo"]["endCursor"]}"')).json()
    second = rest["data"]["personalDataRetrievalTaskBatch"]["tasks"]
    assert not second["pageInfo"]["hasNextPage"]
    assert first["edges"][0]["node"]["taskId"] != second["edges"][0]["node"]["taskId"]
    for bad in (', after: "bm9wZQ"', ', after: "%%%"'):
        body = api.gql(REJECTED % (batch_id, 4, bad)).json()
        assert body["errors"][0]["extensions"]["classification"]["type"] == "ValidationError"
    body = api.gql(REJECTED % (batch_id, 0, "")).json()
    assert "first must be between 1 and 1000" in body["errors"][0]["message"]


def test_a_file_without_an_email_column_is_refused_at_once(api: Api) -> None:
    batches = _count(api, "retrieval_batches")
    for content, message in (
        (b"name,mail\nJane,jane.doe@example.com\n", "The header row (line 1) has no email column."),
        (b"\xef\xbb\xbf", "The file is empty: it needs a header row with an email column."),
        (b'"email\n', "The header row (line 1) is not valid CSV."),
    ):
        assert_validation(start_batch(api, upload(api, content)), message, "InvalidFile")
    _, pending = create_link(api, 10)
    assert_validation(start_batch(api, pending), "The file has not been uploaded yet.", "FileNotUploaded")
    assert _count(api, "retrieval_batches") == batches


def test_bad_ids_scope_and_tenants(api: Api) -> None:
    assert_validation(
        start_batch(api, "../etc/passwd"),
        "Input request is not valid, the following issues were encountered: "
        "[/startPersonalDataRetrievalTasks/input/fileId must be a UUID]",
    )
    file_id = upload(api, b"email\njane.doe@example.com\n")
    other_tenant = token_for(api, ["privacy:manage", "files:manage"], tenant="another-shop")
    for fid, token in (("0b7a3f52-9b0a-4c62-a1a5-2a3c1a8f1e11", None), (file_id, other_tenant)):
        body = start_batch(api, fid, token=token)
        assert body["data"] == {M: None}
        assert body["errors"][0]["extensions"]["classification"]["type"] == "ResourceNotFoundError"
    files_only = token_for(api, ["files:manage"])
    body = start_batch(api, file_id, token=files_only)
    assert body["errors"][0]["extensions"]["classification"]["type"] == "AccessDeniedError"

    batch_id = _started(api, file_id)
    body = api.gql(BATCH % batch_id, token=other_tenant).json()
    assert body["data"] == {"personalDataRetrievalTaskBatch": None}
    assert body["errors"][0]["extensions"]["classification"]["type"] == "ResourceNotFoundError"
    body = api.gql(BATCH % "nope").json()
    assert "/personalDataRetrievalTaskBatch/batchId must be a UUID" in body["errors"][0]["message"]
    wait_batch(api, batch_id)


def test_client_token_makes_the_start_idempotent(api: Api) -> None:
    file_id = upload(api, b"email\nnobody@example.com\n")
    token = f', clientToken: {{token: "{TOKEN}"}}'
    first = _started(api, file_id, token)
    assert _started(api, file_id, token) == first
    other = upload(api, b"email\nnobody@example.com\n")
    body = start_batch(api, other, token)
    assert body["errors"][0]["extensions"]["classification"]["type"] == "ConflictError"
    wait_batch(api, first)
    assert api.gql(START_BATCH % (file_id, ', clientToken: {token: "short"}')).json()["data"] == {M: None}


@pytest.mark.local_stack
def test_logs_hold_neither_file_content_nor_e_mails(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    secret = b"email\nsecret.person@example.com\nanother.secret@example.com\n"
    batch_id = _started(api, upload(api, secret))
    binary = b"secret\x00data"
    url, _ = create_link(api, len(binary))
    assert api.client.put(url, content=binary, headers={"Content-Type": "text/csv"}).status_code == 422
    wait_batch(api, batch_id)
    out = capsys.readouterr()
    logged = out.out + out.err
    assert "batch_read" in logged or "batch_started" in logged  # the logs were captured
    assert "secret" not in logged


def test_a_single_request_does_not_wait_behind_a_large_batch(api: Api) -> None:
    """A request sent after a batch's 400 rows became due tasks runs before most of them.

    It does not depend on the machine's speed: the batch is read with the task workers paused (a runner of
    background loops only), so all 400 rows wait when the single request arrives; the workers then start
    together, and the order is read from the tasks' finish times, not from counts polled afterwards."""
    rows = 400
    csv = "email\r\n" + "".join(f"customer{i}@example.com\r\n" for i in range(rows))
    api.container.runner.stop()  # the app's workers pause
    reader = api.container.local_runner(0)  # the batch reader and other background loops, no task worker
    reader.start()
    try:
        batch_id = _started(api, upload(api, csv.encode()))
        deadline = time.monotonic() + 60
        while batch(api, batch_id)["tasksStarted"] < rows:  # every row is a due task now
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        reader.stop()
    before = batch(api, batch_id)["taskCounts"]
    assert before["inProgress"] == rows, before  # none ran yet
    single = api.start("jane.doe@example.com")  # sent after the batch's tasks
    api.container.runner.start()
    assert api.wait(single)["status"] == "COMPLETED"
    ran_first = _count_finished(api, batch_id, before_task=single)
    # Claims take single requests first: the other workers ran batch rows only while this one ran.
    assert ran_first < before["inProgress"] // 2, (ran_first, before)  # it did not wait for the batch
    assert wait_batch(api, batch_id, timeout=120)["taskCounts"]["inProgress"] == 0
    assert _count_finished(api, batch_id) == rows  # (the query above sees the batch's tasks)


def _count_finished(api: Api, batch_id: str, before_task: str | None = None) -> int:
    """The batch's finished tasks; with `before_task`, those that finished no later than that task."""
    sql = "SELECT count(*) FROM privacy_tasks WHERE batch_id = :batch AND finished_at IS NOT NULL"
    if before_task is not None:
        sql += " AND finished_at <= (SELECT finished_at FROM privacy_tasks WHERE id = :single)"
    with api.container.db.engine.connect() as conn:
        return int(conn.execute(sa.text(sql), {"batch": batch_id, "single": before_task}).scalar_one())


def test_each_row_that_starts_a_task_opens_a_privacy_request(api: Api) -> None:
    batch_id = _started(api, upload(api, MIXED))
    assert wait_batch(api, batch_id)["taskCounts"] == {"inProgress": 0, "completed": 1, "failed": 1}
    tasks = api.gql(TASKS % (batch_id, 10, "")).json()["data"]["personalDataRetrievalTaskBatch"]["tasks"]
    ids = {e["node"]["taskId"]: e["node"]["status"] for e in tasks["edges"]}
    page = api.container.requests.page("default", first=500)
    cases = {v.task_ids[0]: v for v in page.items if v.task_ids and v.task_ids[0] in ids}
    assert set(cases) == set(ids)
    assert {(v.type, v.channel) for v in cases.values()} == {("access", "bulk")}
    assert sorted((v.status, v.decided_by, v.decision_basis) for v in cases.values()) == [
        ("completed", "policy", None),
        ("denied", "engine", "no_data_held"),
    ]
