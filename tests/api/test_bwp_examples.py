"""Every example of api-docs 000 and 001 (tests/api/fixtures/), replayed against a running dsar and compared
field by field.

A request is replayed in the canonical GraphQL printing of its document (two-space indent), which is what
the documented error `locations` (line 2, column 3) refer to. Ids and dates compare by format, everything else by value.
A field the document leaves out of an answer must be null in ours (GraphQL answers every selected field).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import parse, print_ast

from tests.api.docs import Example, examples
from tests.api.harness import Api, running_api, settings_for

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
OBFUSCATED = "[email protected]"


def canonical(request: str) -> str:
    return print_ast(parse(request))


def compare(doc: Any, ours: Any, path: str = "") -> None:
    if isinstance(doc, dict):
        assert isinstance(ours, dict), f"{path}: expected an object, got {ours!r}"
        for key, value in doc.items():
            assert key in ours, f"{path}/{key}: missing"
            compare(value, ours[key], f"{path}/{key}")
        for key in set(ours) - set(doc):
            assert ours[key] is None, f"{path}/{key}: not in the document, so it must be null, got {ours[key]!r}"
    elif isinstance(doc, list):
        assert isinstance(ours, list) and len(ours) == len(doc), f"{path}: {ours!r} vs {doc!r}"
        for n, (d, o) in enumerate(zip(doc, ours, strict=True)):
            compare(d, o, f"{path}/{n}")
    elif path.endswith("/taskId"):
        assert isinstance(ours, str) and UUID4.match(ours), f"{path}: {ours!r} is not a UUIDv4"
    elif path.endswith(("/submissionDate", "/lastUpdatedDate")):
        assert isinstance(ours, str) and ISO.match(ours), f"{path}: {ours!r} is not ISO 8601 UTC with microseconds"
    elif path.endswith("/dataRetrievalLink"):
        assert isinstance(ours, str) and re.search(r"/privacyRequest/[0-9a-f-]{36}/result/data_retrieval\.zip\?", ours)
    else:
        assert ours == doc, f"{path}: {ours!r} != {doc!r}"


def _by_title(prefix: str) -> dict[str, Example]:
    return {e.title: e for e in examples(prefix)}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path) -> Any:
    with running_api(settings_for(tmp_path_factory.mktemp("bwp"), demo_dir)) as a:
        yield a


def test_documents_have_the_examples_we_replay() -> None:
    assert set(_by_title("000")) == {
        "Personal Data Retrieval Task With Error",
        "Personal Data Retrieval Task",
        "Non Exist Error",
    }
    assert set(_by_title("001")) == {
        "Start Personal Data Retrieval Task",
        "Email Validation Error",
        "Email Not Provided Error",
    }


@pytest.mark.parametrize(
    "title", ["Start Personal Data Retrieval Task", "Email Validation Error", "Email Not Provided Error"]
)
def test_001_start_examples(api: Api, title: str) -> None:
    ex = _by_title("001")[title]
    before = api.container.db.engine.connect().exec_driver_sql("SELECT count(*) FROM privacy_tasks").scalar()
    r = api.gql(canonical(ex.request.replace(OBFUSCATED, "jane.doe@example.com")))
    assert r.status_code == 200
    compare(ex.response, r.json())
    after = api.container.db.engine.connect().exec_driver_sql("SELECT count(*) FROM privacy_tasks").scalar()
    assert after == before + (1 if "errors" not in ex.response else 0)


def test_000_failed_task_example(api: Api) -> None:
    ex = _by_title("000")["Personal Data Retrieval Task With Error"]
    email = "no.such.shopper@example.com"
    task_id = api.start(email)
    assert api.wait(task_id)["status"] == "FAILED"
    doc_id = ex.response["data"]["personalDataRetrievalTask"]["taskId"]
    expected = _substitute(ex.response, doc_id, task_id, email)
    r = api.gql(canonical(ex.request.replace(doc_id, task_id)))
    compare(expected, r.json())


@pytest.mark.local_stack
def test_000_completed_task_example(api: Api) -> None:
    ex = _by_title("000")["Personal Data Retrieval Task"]
    task_id = api.start("jane.doe@example.com")
    assert api.wait(task_id)["status"] == "COMPLETED"
    doc_id = ex.response["data"]["personalDataRetrievalTask"]["taskId"]
    expected = _substitute(ex.response, doc_id, task_id, "jane.doe@example.com")
    body = api.gql(canonical(ex.request.replace(doc_id, task_id))).json()
    compare(expected, body)
    link = httpx.URL(body["data"]["personalDataRetrievalTask"]["dataRetrievalLink"])
    download = api.client.get(link.raw_path.decode())
    assert download.status_code == 200 and download.content[:2] == b"PK"


def test_000_not_found_example(api: Api) -> None:
    ex = _by_title("000")["Non Exist Error"]
    r = api.gql(canonical(ex.request))
    assert r.status_code == 200
    compare(ex.response, r.json())


def _substitute(value: Any, doc_id: str, task_id: str, email: str) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, doc_id, task_id, email) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, doc_id, task_id, email) for v in value]
    if isinstance(value, str):
        return value.replace(doc_id, task_id).replace(OBFUSCATED, email)
    return value
