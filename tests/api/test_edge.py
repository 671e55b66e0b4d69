"""The hardened edge (issue 19): GraphQL document bounds, security headers on every HTML page, /metrics behind a
token, no internal names in answers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from dsar.api.graphql.schema import INLINE_CHARS, MAX_ALIASES
from dsar.api.methods import walk
from tests.api.harness import Api, running_api, settings_for

M = "startPersonalDataRetrievalTask"
START = f'%s: {M}(input: {{dataSubject: {{type: SHOPPER, email: "m%d@example.com"}}}}) {{ taskId }}'


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path) -> Iterator[Api]:
    settings = settings_for(
        tmp_path_factory.mktemp("edge"), demo_dir, graphql_max_mutations=3, metrics_token="scrape-me-please"
    )
    with running_api(settings) as a:
        yield a


def _count(api: Api) -> int:
    with api.container.db.engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT count(*) FROM privacy_tasks").scalar() or 0)


@pytest.mark.parametrize("n", [MAX_ALIASES + 1, 1000, 8000])
def test_thousands_of_aliased_mutations_are_a_validation_error_never_a_500(api: Api, n: int) -> None:
    before = _count(api)
    r = api.gql("mutation { " + " ".join(START % (f"a{i}", i) for i in range(n)) + " }")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["classification"]["errorType"] == "ValidationException"
    assert _count(api) == before


def test_deeply_nested_documents_are_refused_not_a_recursion_error(api: Api) -> None:
    deep = "query { " + "__typename { " * 3000 + "}" * 3000 + " }"
    r = api.gql(deep)
    assert r.status_code in (200, 400), r.text
    assert r.json()["errors"][0]["extensions"]["classification"]["errorType"] == "ValidationException"
    fragments = "mutation { ...F0 } " + " ".join(f"fragment F{i} on Mutation {{ ...F{i + 1} }}" for i in range(2000))
    r = api.gql(fragments + f" fragment F2000 on Mutation {{ {START % ('x', 0)} }}")
    assert r.status_code in (200, 400) and r.json()["data"] is None


def test_mutations_per_request_follow_the_setting_through_fragments(api: Api) -> None:
    before = _count(api)
    four = " ".join(START % (f"a{i}", i) for i in range(4))
    for document in (
        "mutation { " + four + " }",
        "mutation { ...F } fragment F on Mutation { " + four + " }",
        "mutation { ... on Mutation { " + four + " } }",
    ):
        body = api.gql(document).json()
        assert body["data"] is None
        assert body["errors"][0]["message"] == "4 mutations in one request. Allowed: 3"
    assert _count(api) == before
    three = api.gql("mutation { " + " ".join(START % (f"a{i}", i) for i in range(3)) + " }").json()
    assert len(three["data"]) == 3 and _count(api) == before + 3


def _html_routes(api: Api) -> list[str]:
    """Every GET route of the app (path parameters filled in), whatever routers exist."""
    paths = [path for path, methods in walk(api.client.app.routes) if "GET" in methods and "{path" not in path]  # type: ignore[attr-defined]
    routes = sorted({re.sub(r"\{[^}]+\}", "x", path) for path in paths})
    assert len(routes) > 10  # the walk found the included routers
    return routes


def test_every_html_page_sends_csp_frame_nosniff_and_referrer_headers(api: Api) -> None:
    html = []
    for path in _html_routes(api):
        r = api.client.get(path, headers={"Accept": "text/html"}, follow_redirects=False)
        assert r.status_code < 500, path
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["referrer-policy"], path
        if r.headers.get("content-type", "").startswith("text/html"):
            html.append(path)
            csp = r.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in csp and "default-src" in csp, path
            assert "unsafe-eval" not in csp, path
            assert r.headers["x-frame-options"] == "DENY", path
    # the pages the review named are among them (and any page other routers add)
    assert {"/docs", "/redoc", "/graphql", "/odr/oauth/authorize"} <= set(html)


def test_an_error_page_and_a_static_file_get_the_headers_too(api: Api) -> None:
    page = api.client.get("/odr/oauth/authorize?response_type=nonsense")
    assert page.headers["content-type"].startswith("text/html") and page.status_code == 400
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    asset = api.client.get("/static/dsar/pages.css")
    assert asset.status_code == 200 and asset.headers["x-content-type-options"] == "nosniff"


def test_metrics_answer_only_the_configured_bearer_token(api: Api) -> None:
    assert api.client.get("/metrics").status_code == 401
    assert api.client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert api.client.get("/metrics", headers={"Authorization": f"Bearer {api.token}"}).status_code == 401
    ok = api.client.get("/metrics", headers={"Authorization": "Bearer scrape-me-please"})
    assert ok.status_code == 200 and "dsar_tasks" in ok.text


def test_cors_is_off_unless_configured(api: Api) -> None:
    r = api.client.options(
        "/graphql", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in r.headers
    r = api.client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/odr/requests/abc", "DELETE, GET, OPTIONS"),
        ("/odr/requests", "GET, OPTIONS, POST"),
        ("/graphql", "GET, OPTIONS, POST"),
        ("/odr/oauth/authorize", "GET, OPTIONS, POST"),
    ],
)
def test_options_and_405_name_every_method_of_a_path(api: Api, path: str, methods: str) -> None:
    r = api.client.options(path)
    assert (r.status_code, r.headers["allow"]) == (204, methods)
    assert "access-control-allow-methods" not in r.headers
    r = api.client.put(path, content=b"{}")
    assert (r.status_code, r.headers["allow"]) == (405, methods)
    assert api.client.options("/no/such/path").status_code == 404


def test_openapi_names_real_statuses_and_content_types(api: Api) -> None:
    doc = api.client.get("/openapi.json").json()
    paths = doc["paths"]
    records = paths["/portability/{scopeId}/data-queries/{queryId}/records"]["get"]["responses"]
    assert records["404"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/PortabilityError"}
    assert "Retry-After" in records["429"]["headers"] and "422" not in records
    cancel = paths["/odr/requests/{requestId}"]["delete"]["responses"]
    assert list(cancel["200"]["content"]) == ["text/plain"] and {"401", "404"} <= set(cancel)
    download = paths["/odr/requests/{requestId}/download"]["get"]["responses"]
    assert list(download["200"]["content"]) == ["application/zip"]
    token = paths["/token"]["post"]
    assert "application/x-www-form-urlencoded" in token["requestBody"]["content"]
    assert {"400", "401", "429"} <= set(token["responses"])
    r = api.client.delete("/odr/requests/nope")
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/json")


def test_a_long_document_is_parsed_and_validated_off_the_loop_with_the_same_answer(api: Api) -> None:
    padding = "# " + "x" * (INLINE_CHARS + 100) + "\n"  # over the inline size: parsed and validated in a thread
    ok = api.gql(padding + "query { a: __typename b: __typename }").json()
    assert ok == {"data": {"a": "Query", "b": "Query"}}
    bad = api.gql(padding + "query { nope }").json()
    assert bad["data"] is None and "nope" in bad["errors"][0]["message"]
    many = api.gql(
        "query { " + " ".join('personalDataRetrievalTask(taskId: "x") { taskId }' for _ in range(450)) + " }"
    )
    assert many.status_code == 200 and many.json()["data"] is None
