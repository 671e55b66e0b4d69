"""Bad input gets a clear error in the Buy with Prime format and creates nothing; client tokens are idempotent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from dsar.api.graphql.schema import MAX_ALIASES, MAX_TOKENS
from dsar.api.limits import MAX_BODY
from dsar.kit.clock import FrozenClock, SystemClock
from dsar.tasks.validation import EMAIL_PATTERN
from tests.api.harness import Api, assert_validation, running_api, settings_for

M = "startPersonalDataRetrievalTask"


def start(email: str, extra: str = "") -> str:
    return f'mutation {{ {M}(input: {{dataSubject: {{type: SHOPPER, email: "{email}"}}{extra}}}) {{ taskId }} }}'


@pytest.fixture(scope="module")
def clock() -> FrozenClock:
    return FrozenClock(SystemClock().now())


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path, clock: FrozenClock) -> Iterator[Api]:
    with running_api(settings_for(tmp_path_factory.mktemp("bad"), demo_dir), clock=clock) as a:
        yield a


def _count(api: Api) -> int:
    with api.container.db.engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT count(*) FROM privacy_tasks").scalar() or 0)


@pytest.mark.parametrize(
    "email",
    [
        "aemail.com",
        "a@b",
        "a b@example.com",
        "jane@example.c",
        "@example.com",
        "jane@exa_mple.com",
        "jane@@example.com",
        "jane@example.com\\u0000",
        "<script>@x.com",
    ],
)
def test_invalid_email(api: Api, email: str) -> None:
    before = _count(api)
    body = api.gql(start(email)).json()
    assert_validation(
        body,
        "Input request is not valid, the following issues were encountered: "
        f'[/{M}/input/dataSubject/email must match "{EMAIL_PATTERN}"]',
    )
    assert _count(api) == before


def test_over_long_email(api: Api) -> None:
    before = _count(api)
    body = api.gql(start("a" * 250 + "@example.com")).json()
    assert_validation(
        body,
        "Input request is not valid, the following issues were encountered: "
        f"[/{M}/input/dataSubject/email may only be 254 characters long]",
    )
    assert _count(api) == before


@pytest.mark.parametrize("email", ['""', '"   "', "null"])
def test_empty_email_is_not_provided(api: Api, email: str) -> None:
    q = f"mutation {{ {M}(input: {{dataSubject: {{type: SHOPPER, email: {email}}}}}) {{ taskId }} }}"
    assert_validation(
        api.gql(q).json(),
        "The dataSubject must have an email specified to initiate a personalDataRetrievalTask.",
        "EmailNotProvidedForPersonalDataRetrievalTask",
    )


@pytest.mark.parametrize(
    "query",
    [
        f"mutation {{ {M}(input: {{dataSubject: {{type: SHOPPER, email: 123}}}}) {{ taskId }} }}",
        f'mutation {{ {M}(input: {{dataSubject: {{type: CUSTOMER, email: "jane.doe@example.com"}}}}) {{ taskId }} }}',
        f"mutation {{ {M} {{ taskId }} }}",
        f'mutation {{ {M}(input: {{dataSubject: {{email: "jane.doe@example.com"}}}}) {{ taskId }} }}',
        "query { personalDataRetrievalTask(taskId: 42) { taskId } }",
        "query { personalDataRetrievalTask { taskId } }",
        "query { nothingHere }",
        "mutation { ",
    ],
)
def test_wrong_types_and_shapes(api: Api, query: str) -> None:
    before = _count(api)
    r = api.gql(query)
    assert r.status_code == 200
    body = r.json()
    assert body["data"] is None
    assert body["errors"] and all(
        e["extensions"]["classification"]
        == {"type": "ValidationError", "errorType": "ValidationException", "errorCode": 400}
        for e in body["errors"]
    )
    assert _count(api) == before


@pytest.mark.parametrize(
    ("token", "rule"),
    [
        ("x" * 35, "must be at least 36 characters long"),
        ("x" * 65, "may only be 64 characters long"),
    ],
)
def test_malformed_client_token(api: Api, token: str, rule: str) -> None:
    before = _count(api)
    body = api.gql(start("jane.doe@example.com", f', clientToken: {{token: "{token}"}}')).json()
    assert_validation(
        body,
        f"Input request is not valid, the following issues were encountered: [/{M}/input/clientToken/token {rule}]",
    )
    assert _count(api) == before


def test_task_id_that_is_not_a_uuid(api: Api) -> None:
    body = api.gql('query { personalDataRetrievalTask(taskId: "../../etc/passwd") { taskId } }').json()
    assert body["data"] == {"personalDataRetrievalTask": None}
    [err] = body["errors"]
    assert err["message"] == (
        "Input request is not valid, the following issues were encountered: "
        "[/personalDataRetrievalTask/taskId must be a UUID]"
    )


def test_bad_http_bodies(api: Api) -> None:
    h = {"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"}
    for raw in (b"{not json", b"[]", b'{"query": 5}', b'{"query": "{ a }", "variables": []}'):
        r = api.client.post("/graphql", content=raw, headers=h)
        assert r.status_code == 400
        assert r.json()["errors"][0]["extensions"]["classification"]["errorType"] == "ValidationException"
    r = api.client.post("/graphql", content=b'{"query": "' + b"a" * (1 << 20) + b'"}', headers=h)
    assert r.status_code == 413


def test_client_token_is_an_idempotency_key_for_8_hours(api: Api, clock: FrozenClock) -> None:
    token = "6f1c1c9e-0d7d-4c3e-9f4b-2b8a1d7e5c3a-retry"
    q = start("jane.doe@example.com", f', clientToken: {{token: "{token}"}}')
    first = api.gql(q).json()["data"][M]["taskId"]
    before = _count(api)
    assert api.gql(q).json()["data"][M]["taskId"] == first
    assert api.gql(q.replace("jane.doe@", "JANE.DOE@")).json()["data"][M]["taskId"] == first
    assert _count(api) == before
    other = api.gql(start("john@example.com", f', clientToken: {{token: "{token}"}}')).json()
    assert other["data"] == {M: None}
    assert other["errors"][0]["extensions"]["classification"]["type"] == "ConflictError"
    assert _count(api) == before
    clock.advance(timedelta(hours=8, seconds=1))
    try:
        cid, secret = api.container.auth.create_client("later", ["privacy:manage"])
        fresh = str(api.container.auth.issue_token(cid, secret, None)["access_token"])
        reply = api.gql(q, token=fresh).json()
        assert reply.get("data"), reply
        again = reply["data"][M]["taskId"]
        assert again != first
        assert _count(api) == before + 1
    finally:
        clock.advance(-timedelta(hours=8, seconds=1))


def test_variables_are_validated_like_literals(api: Api) -> None:
    q = f"mutation($input: StartPersonalDataRetrievalTaskInput!) {{ {M}(input: $input) {{ taskId }} }}"
    body = api.gql(q, variables={"input": {"dataSubject": {"type": "SHOPPER", "email": "aemail.com"}}}).json()
    assert body["errors"][0]["extensions"]["classification"]["code"] == "UnspecifiedError"
    ok = api.gql(q, variables={"input": {"dataSubject": {"type": "SHOPPER", "email": "jane.doe@example.com"}}})
    assert ok.json()["data"][M]["taskId"]


@pytest.mark.parametrize(
    "query", ["subscription { x }", 'subscription { personalDataRetrievalTask(taskId: "x") { taskId } }']
)
def test_a_subscription_is_a_validation_error_not_a_500(api: Api, query: str) -> None:
    before = _count(api)
    r = api.gql(query)
    assert r.status_code == 400
    [err] = r.json()["errors"]
    assert err["message"] == "Only query and mutation operations are supported."
    assert err["extensions"]["classification"]["errorType"] == "ValidationException"
    assert _count(api) == before


def _aliased(n: int) -> str:
    start = (
        'a%d: startPersonalDataRetrievalTask(input: {dataSubject: {type: SHOPPER, email: "a%d@example.com"}}) '
        "{ taskId }"
    )
    return "mutation { " + " ".join(start % (i, i) for i in range(n)) + " }"


def test_a_document_with_too_many_aliases_starts_nothing(api: Api) -> None:
    before = _count(api)
    body = api.gql(_aliased(MAX_ALIASES + 1)).json()
    assert body["data"] is None and body["errors"][0]["message"] == f"{MAX_ALIASES + 1} aliases found. Allowed: 30"
    assert body["errors"][0]["extensions"]["classification"]["errorType"] == "ValidationException"
    assert _count(api) == before
    ok = api.gql("query { " + " ".join(f"t{i}: __typename" for i in range(MAX_ALIASES)) + " }").json()
    assert len(ok["data"]) == MAX_ALIASES


def test_a_document_of_too_many_tokens_is_refused_before_it_runs(api: Api) -> None:
    body = api.gql("query { " + "__typename " * (MAX_TOKENS + 1) + "}").json()
    assert body["data"] is None and "more than 5000 tokens" in body["errors"][0]["message"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/odr/requests", {"error": "PayloadTooLarge", "message": "The request body is too large (at most 1 MiB)."}),
        ("/token", {"error": "invalid_request", "error_description": "The request body is too large (at most 1 MiB)."}),
        (
            "/portability/x/data-queries",
            {
                "category": "BAD_REQUEST",
                "type": "PAYLOAD_TOO_LARGE",
                "message": "The request body is too large (at most 1 MiB).",
            },
        ),
    ],
)
def test_every_body_has_a_size_limit_declared_or_streamed(api: Api, path: str, body: dict[str, str]) -> None:
    big = b"x" * (MAX_BODY + 1)
    r = api.client.post(path, content=big, headers={"content-type": "application/json"})
    assert (r.status_code, r.json()) == (413, body)
    if path.startswith("/odr"):  # a route that reads its body: a chunked one is cut off at the limit
        streamed = api.client.post(path, content=iter([big[:600_000], big[600_000:]]))  # no Content-Length
        assert (streamed.status_code, streamed.json()) == (413, body)
