"""createUploadLink (both API versions), the signed PUT /uploads/ route, and downloadLink, over real HTTP."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from graphql import parse, print_ast

from dsar.kit.clock import FrozenClock, SystemClock
from tests.api.docs import examples
from tests.api.files import CREATE, CREATE_V2, DOWNLOAD, V2, create_link, put, stored_upload, token_for, upload
from tests.api.harness import Api, running_api, settings_for
from tests.api.test_bwp_examples import UUID4, compare

CSV = b"email\njane.doe@example.com\n"
UPLOAD_URL = re.compile(r"^http://testserver/uploads/([0-9a-f-]{36})\?expires=[0-9]+&signature=[A-Za-z0-9_-]+$")
GENERIC = (
    "Input request is not valid. Retrying the same request is not likely to succeed. An example could be query "
    "or argument value is not correct or valid."
)


@pytest.fixture(scope="module")
def clock() -> FrozenClock:
    return FrozenClock(SystemClock().now())


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path, clock: FrozenClock) -> Iterator[Api]:
    settings = settings_for(
        tmp_path_factory.mktemp("uploads"), demo_dir, uploads={"max_bytes": 1000}, token_ttl_seconds=86400
    )
    with running_api(settings, clock=clock) as a:
        yield a


def _files(api: Api) -> set[str]:
    root = api.container.settings.data_dir / "objects" / "uploads"
    return {p.name for p in root.iterdir()} if root.is_dir() else set()


# -- api-docs 004, replayed ------------------------------------------------------------------------------


@pytest.mark.local_stack
def test_004_examples_replayed(api: Api) -> None:
    by_title = {e.title: e for e in examples("004")}
    assert set(by_title) == {"Create Upload Link", "Validation Exception"}
    ok = api.gql(print_ast(parse(by_title["Create Upload Link"].request)))
    assert ok.status_code == 200
    link = ok.json()["data"]["createUploadLink"]
    doc_link = by_title["Create Upload Link"].response["data"]["createUploadLink"]
    assert set(link) == set(doc_link)
    assert UUID4.match(link["fileId"])
    match = UPLOAD_URL.match(link["uploadUrl"])
    assert match and match.group(1) == link["fileId"]

    bad = api.gql(print_ast(parse(by_title["Validation Exception"].request)))
    assert bad.status_code == 200
    compare(by_title["Validation Exception"].response, bad.json())
    assert bad.json()["data"] is None


@pytest.mark.local_stack
def test_the_link_takes_exactly_the_declared_size_once(api: Api) -> None:
    url, file_id = create_link(api, len(CSV))
    r = put(api, url, CSV)
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == f'"{hashlib.md5(CSV, usedforsecurity=False).hexdigest()}"'
    again = put(api, url, CSV)
    assert again.status_code == 409 and again.json()["error"] == "AlreadyUsed"
    assert stored_upload(api.container, file_id) == CSV


# -- the 2024-04-01 shape ---------------------------------------------------------------------------------


@pytest.mark.local_stack
def test_newer_version_answers_with_payload(api: Api) -> None:
    for version in ("2024-04-01", "2024-11-01"):
        body = api.gql(CREATE_V2 % 10, headers={"x-api-version": version}).json()
        payload = body["data"]["createUploadLink"]["payload"]
        assert UUID4.match(payload["fileId"]) and UPLOAD_URL.match(payload["uploadUrl"])
    # The old input does not exist in the new version, nor the new one in the old.
    old_in_new = api.gql(CREATE % 10, headers=V2).json()
    assert old_in_new["data"] is None and "fileExtension" in old_in_new["errors"][0]["message"]
    new_in_old = api.gql(CREATE_V2 % 10, headers={"x-api-version": "2024-01-01"}).json()
    assert new_in_old["data"] is None and "fileType" in new_in_old["errors"][0]["message"]


@pytest.mark.parametrize(
    ("size", "rule"),
    [
        (-123, "must be greater than or equal to 1"),
        (0, "must be greater than or equal to 1"),
        (1001, "must be less than or equal to 1000"),
    ],
)
def test_newer_version_size_errors(api: Api, size: int, rule: str) -> None:
    body = api.gql(CREATE_V2 % size, headers=V2).json()
    message = (
        f"Input request is not valid, the following issues were encountered: [/createUploadLink/input/size {rule}]"
    )
    assert body == {
        "errors": [
            {
                "message": message,
                "locations": [{"line": 1, "column": 12}],
                "path": ["createUploadLink"],
                "extensions": {
                    "classification": {
                        "type": "ValidationError",
                        "code": "UnspecifiedError",
                        "details": {},
                        "errorType": "ValidationException",
                        "errorCode": 400,
                    }
                },
            }
        ],
        "data": {"createUploadLink": None},
    }


@pytest.mark.parametrize("size", [0, -1, 1001])
def test_old_version_size_errors(api: Api, size: int) -> None:
    before = _files(api)
    body = api.gql(CREATE % size).json()
    assert body["data"] is None
    [err] = body["errors"]
    assert err["message"] == GENERIC and err["path"] == ["createUploadLink"]
    assert err["extensions"] == {"classification": {"errorType": "ValidationException", "errorCode": 400}}
    assert _files(api) == before


def test_bad_input(api: Api) -> None:
    wrong_enum = api.gql("mutation { createUploadLink(input: {fileExtension: XLSX, size: 5}) { fileId } }").json()
    assert wrong_enum["data"] is None
    assert wrong_enum["errors"][0]["extensions"]["classification"]["type"] == "ValidationError"
    too_big_for_int = api.gql(CREATE % (2**31)).json()
    assert too_big_for_int["data"] is None
    bad_version = api.gql(CREATE % 5, headers={"x-api-version": "latest"})
    assert bad_version.status_code == 400
    for file_id in ("../../etc/passwd", " invalid id ", "66d8bef0726e4c17a8f187640116e9b2", "x" * 37):
        body = api.gql(DOWNLOAD % file_id).json()
        assert body["data"] is None and body["errors"][0]["message"] == GENERIC


# -- authentication and scope ---------------------------------------------------------------------------


def test_files_scope_is_required(api: Api) -> None:
    privacy_only = token_for(api, ["privacy:manage"])
    for query, headers in (
        (CREATE % 5, {}),
        (CREATE_V2 % 5, V2),
        (DOWNLOAD % "66d8bef0-726e-4c17-a8f1-87640116e9b2", {}),
    ):
        body = api.gql(query, token=privacy_only, headers=headers).json()
        [err] = body["errors"]
        assert err["extensions"]["classification"] == {
            "type": "AccessDeniedError",
            "errorType": "AccessDeniedException",
            "errorCode": 403,
        }
    files_only = token_for(api, ["files:manage"])
    assert "errors" not in api.gql(CREATE % 5, token=files_only).json()
    r = api.client.post("/graphql", json={"query": CREATE % 5})
    assert r.status_code == 401


# -- the PUT route ---------------------------------------------------------------------------------------


def _tamper(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query[name] = value
    return f"{parts.path}?{urlencode(query)}"


@pytest.mark.local_stack
def test_put_refusals(api: Api, clock: FrozenClock) -> None:
    url, _ = create_link(api, len(CSV))
    cases = [
        (put(api, url, CSV[:-1]), 400, "ContentLengthMismatch"),
        (put(api, url, CSV + b"x@y.com\n"), 413, "EntityTooLarge"),
        (put(api, url, CSV, content_type="application/octet-stream"), 415, "ContentTypeMismatch"),
        (put(api, url, CSV, content_type="text/csv; charset=latin-1"), 415, "ContentTypeMismatch"),
    ]
    signature = dict(parse_qsl(urlsplit(url).query))["signature"]
    tampered = ("A" if signature[0] != "A" else "B") + signature[1:]
    cases.append((put(api, _tamper(url, "signature", tampered), CSV), 403, "AccessDenied"))
    cases.append((put(api, _tamper(url, "expires", "99999999999"), CSV), 403, "AccessDenied"))
    cases.append((put(api, url.replace("/uploads/", "/uploads/x"), CSV), 403, "AccessDenied"))
    for response, status, error in cases:
        assert response.status_code == status, (error, response.text)
        assert response.json()["error"] == error
    chunked = api.client.put(url, content=iter([CSV]), headers={"Content-Type": "text/csv"})
    assert chunked.status_code == 411
    # none of that used the link up
    assert put(api, url, CSV, content_type="text/csv; charset=utf-8").status_code == 200


@pytest.mark.local_stack
def test_an_expired_link_is_refused(api: Api, clock: FrozenClock) -> None:
    url, file_id = create_link(api, len(CSV))
    clock.advance(timedelta(seconds=901))
    r = put(api, url, CSV)
    assert r.status_code == 403 and r.json() == {"error": "AccessDenied", "message": "The link has expired."}
    assert f"{file_id}.csv" not in _files(api)


@pytest.mark.local_stack
@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"email\x00\x01\x02binary", "NUL byte at offset 5"),
        (b"PK\x03\x04\x14\x00\x06\x00", "ZIP archive"),
        (b"\xff\xfee\x00m\x00", "UTF-16"),
        (b"email\njos\xe9@example.com\n", "not UTF-8 text: invalid byte sequence at offset 9"),
        (b"email\nx@example.com\xc3", "ends inside a multi-byte character"),
    ],
)
def test_binary_content_is_refused_and_nothing_kept(api: Api, content: bytes, reason: str) -> None:
    url, file_id = create_link(api, len(content))
    r = put(api, url, content)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "InvalidFile" and reason in r.json()["message"]
    assert not any(name.startswith(file_id) or file_id in name for name in _files(api))
    # The failed PUT stored nothing: the link still takes a good file.
    good = b"email\n" + b"a" * (len(content) - 6) if len(content) > 6 else b"email\n"[: len(content)]
    assert put(api, url, good).status_code == 200


def test_utf8_with_bom_is_accepted(api: Api) -> None:
    upload(api, b"\xef\xbb\xbfemail\njos\xc3\xa9@example.com\n")


# -- downloadLink ----------------------------------------------------------------------------------------


@pytest.mark.local_stack
def test_download_link_returns_the_file(api: Api) -> None:
    file_id = upload(api, CSV)
    body = api.gql(DOWNLOAD % file_id).json()
    url = body["data"]["downloadLink"]["downloadUrl"]
    assert url.startswith(f"http://testserver/files/uploads/{file_id}.csv?")
    r = api.client.get(httpx.URL(url).raw_path.decode())
    assert r.status_code == 200 and r.content == CSV and r.headers["content-type"].startswith("text/csv")


def test_unknown_pending_and_foreign_files_are_not_found(api: Api) -> None:
    _, pending = create_link(api, 5)
    mine = upload(api, CSV)
    other = token_for(api, ["files:manage", "privacy:manage"], tenant="other-shop")
    for file_id, token in (
        ("66d8bef0-726e-4c17-a8f1-87640116e9b2", None),
        (pending, None),
        (mine, other),
    ):
        body = api.gql(DOWNLOAD % file_id, token=token).json()
        assert body["data"] == {"downloadLink": None}
        assert body["errors"][0]["extensions"]["classification"]["type"] == "ResourceNotFoundError"
