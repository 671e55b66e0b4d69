"""The engine over HTTP sources that misbehave: a real loopback API that rate-limits, fails, pages and
renews OAuth tokens, and one that never answers.

The API is written here for fault injection only (Stripe itself is tested against localstripe).
"""

from __future__ import annotations

import base64
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from structlog.testing import capture_logs

from dsar.connectors.registry import connect
from dsar.datamap.loader import parse
from dsar.engine.execute import EngineOptions, Sources, run_retrieval
from dsar.engine.plan import build_plan
from dsar.errors import SourceError
from tests.live import loopback_server

JANE = "jane@example.com"
PEOPLE = [{"id": "p1", "email": JANE, "name": "Jane"}, {"id": "p2", "email": "bob@example.com", "name": "Bob"}]
ORDERS = [{"id": f"o{i:03d}", "person": "p1" if i % 3 else "p2", "total": i} for i in range(1, 61)]

DATAMAP = """
sources:
  api:
    url: %(url)s
    http:
      auth: {type: oauth2, token_url: /oauth/token, client_id: dsar, client_secret: "${API_SECRET}"}
      backoff_seconds: 0.01
      retries: %(retries)d
      timeout_seconds: %(timeout)s
      max_requests: %(budget)d
      resources:
        people:
          path: /people
          rows: items
          columns: {id: string, email: string, name: string}
          filters: {email: {param: email}}
        orders:
          path: /orders
          rows: items
          columns: {id: string, person: string, total: integer}
          filters: {person: {param: person}}
          pagination: {type: link}
collections:
  api.people:
    primary_key: [id]
    identities: {email: {column: email, match: exact}}
    processing: {purpose: p, legal_basis: b, retention: r}
  api.orders:
    primary_key: [id]
    references: [{column: person, to: api.people.id}]
    processing: {purpose: p, legal_basis: b, retention: r}
"""


class FlakyApi:
    """Answers 429 (with Retry-After) then 503 a few times per path before answering; issues OAuth tokens
    that it forgets once (so the client must renew one); pages orders 7 at a time with `Link` headers."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: dict[str, int] = {}
        self.tokens: set[str] = set()
        self.issued = 0
        self.lock = threading.Lock()

    def app(self, base: str) -> Starlette:
        async def token(request: Request) -> Response:
            expected = "Basic " + base64.b64encode(b"dsar:s3cret").decode()
            form = await request.form()
            if request.headers.get("authorization") != expected or form.get("grant_type") != "client_credentials":
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            with self.lock:
                self.issued += 1
                tok = f"tok-{self.issued}"
                self.tokens = {tok}  # earlier tokens stop working
            return JSONResponse({"access_token": tok, "token_type": "Bearer", "expires_in": 3600})

        def flaky(request: Request) -> Response | None:
            auth = request.headers.get("authorization", "")
            if auth.removeprefix("Bearer ") not in self.tokens:
                return JSONResponse({"error": "invalid_token"}, status_code=401)
            with self.lock:
                n = self.calls[request.url.path] = self.calls.get(request.url.path, 0) + 1
                if n == 2:
                    self.tokens = set()  # a token revoked mid-way: the client renews it once
            if n <= self.failures:
                return Response(status_code=429, headers={"Retry-After": "0"})
            if n <= 2 * self.failures:
                return Response(status_code=503)
            return None

        async def people(request: Request) -> Response:
            if (bad := flaky(request)) is not None:
                return bad
            email = request.query_params.get("email")
            return JSONResponse({"items": [p for p in PEOPLE if p["email"] == email]})

        async def orders(request: Request) -> Response:
            if (bad := flaky(request)) is not None:
                return bad
            person = request.query_params["person"]
            page = int(request.query_params.get("page", "0"))
            mine = [o for o in ORDERS if o["person"] == person]
            body = JSONResponse({"items": mine[page * 7 : page * 7 + 7]})
            if page * 7 + 7 < len(mine):
                body.headers["Link"] = f'<{base}/orders?person={person}&page={page + 1}>; rel="next"'
            return body

        return Starlette(
            routes=[
                Route("/oauth/token", token, methods=["POST"]),
                Route("/people", people),
                Route("/orders", orders),
            ]
        )


@pytest.fixture
def flaky() -> Iterator[tuple[str, FlakyApi]]:
    api = FlakyApi(failures=2)
    with loopback_server(api.app) as base:
        yield base, api


def datamap(url: str, *, retries: int = 6, timeout: float = 5, budget: int = 500) -> Any:
    values = {"url": url, "retries": retries, "timeout": timeout, "budget": budget}
    return parse(DATAMAP % values, env={"API_SECRET": "s3cret"})


def test_a_source_answering_429_and_503_for_a_while_still_completes(
    flaky: tuple[str, FlakyApi], tmp_path: Path
) -> None:
    base, api = flaky
    dm = datamap(base)
    sources = Sources(dm, connect)
    try:
        with capture_logs() as logs:
            results, _ = run_retrieval(dm, build_plan(dm), sources, {"email": JANE}, tmp_path, EngineOptions())
    finally:
        sources.dispose()
    by_key = {r.key: r for r in results}
    people = [orjson.loads(line) for line in by_key["api.people"].spool.read_bytes().splitlines()]  # type: ignore[union-attr]
    orders = [orjson.loads(line) for line in by_key["api.orders"].spool.read_bytes().splitlines()]  # type: ignore[union-attr]
    assert people == [PEOPLE[0]]
    assert sorted(o["id"] for o in orders) == sorted(o["id"] for o in ORDERS if o["person"] == "p1")  # 6 pages
    waits = [e for e in logs if e["event"] == "http_source_retry"]
    assert len(waits) == 8 and {e["error"] for e in waits} == {"HTTP 429", "HTTP 503"}  # 2 + 2 per path
    assert all(JANE not in repr(e) for e in logs)
    assert api.issued == 3  # the first token, and a new one each time the API revoked it (once per path)


def test_a_source_failing_more_often_than_the_retries_allow_fails_naming_it(
    flaky: tuple[str, FlakyApi], tmp_path: Path
) -> None:
    base, _api = flaky
    dm = datamap(base, retries=1)
    sources = Sources(dm, connect)
    opts = EngineOptions(retries=1, sleep=lambda s: None)
    try:
        with pytest.raises(SourceError) as info:
            run_retrieval(dm, build_plan(dm), sources, {"email": JANE}, tmp_path, opts)
    finally:
        sources.dispose()
    assert info.value.code == "SOURCE_UNAVAILABLE" and info.value.source == "api"
    assert "'api'" in str(info.value) and JANE not in str(info.value)


@pytest.fixture
def silent() -> Iterator[str]:
    """A server that accepts connections and reads requests but never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        sock.close()


def test_a_source_that_never_answers_ends_source_unavailable_naming_it(silent: str, tmp_path: Path) -> None:
    dm = datamap(silent, retries=1, timeout=0.2)
    sources = Sources(dm, connect)
    opts = EngineOptions(retries=1, sleep=lambda s: None)
    try:
        with pytest.raises(SourceError) as info:
            run_retrieval(dm, build_plan(dm), sources, {"email": JANE}, tmp_path, opts)
    finally:
        sources.dispose()
    assert info.value.code == "SOURCE_UNAVAILABLE" and info.value.source == "api"
    assert "The data source 'api' could not be searched (ReadTimeout, 2 attempts)" in str(info.value)


def test_retry_after_is_read_as_seconds_or_a_date() -> None:
    from dsar.connectors.http_client import retry_after

    assert retry_after("7", 0) == 7.0
    assert retry_after("Thu, 01 Jan 1970 00:01:40 GMT", 40.0) == 60.0
    assert retry_after("Thu, 01 Jan 1970 00:01:40 GMT", 500.0) == 0.0  # in the past: no wait
    assert retry_after("soon", 0) is None and retry_after(None, 0) is None


def test_a_server_asking_to_wait_too_long_and_a_link_to_another_host_fail_at_once(tmp_path: Path) -> None:
    from dsar.connectors.base import Condition, Read, root_cause
    from dsar.connectors.registry import connect_source

    async def busy(request: Request) -> Response:
        return Response(status_code=429, headers={"Retry-After": "3600"})

    async def elsewhere(request: Request) -> Response:
        body = JSONResponse({"items": [{"id": "o1", "person": "p1", "total": 1}]})
        body.headers["Link"] = '<http://192.0.2.1/orders?page=2>; rel="next"'
        return body

    def app(base: str) -> Starlette:
        return Starlette(routes=[Route("/people", busy), Route("/orders", elsewhere)])

    with loopback_server(app) as base:
        dm = parse(
            DATAMAP.replace(
                'auth: {type: oauth2, token_url: /oauth/token, client_id: dsar, client_secret: "${API_SECRET}"}',
                'auth: {type: header, name: X-Api-Key, value: "${API_SECRET}"}',
            )
            % {"url": base, "retries": 5, "timeout": 5, "budget": 500},
            env={"API_SECRET": "s3cret"},
        )
        src = connect_source("api", dm.sources["api"])
        try:
            with pytest.raises(SourceError) as info:
                list(src.read(Read("people", ["id"], ["id"], [Condition("email", "equal", [JANE])])))
            assert "asked to wait too long" in str(root_cause(info.value))
            assert src.session.requests == 1  # type: ignore[attr-defined]
            with pytest.raises(SourceError) as info:
                list(src.read(Read("orders", ["id"], ["id"], [Condition("person", "in", ["p1"])])))
            assert "another host" in str(root_cause(info.value))
        finally:
            src.close()


def test_one_retrieval_spends_one_request_budget_across_its_collections_and_retries(tmp_path: Path) -> None:
    api = FlakyApi(failures=0)
    with loopback_server(api.app) as base:
        dm = datamap(base, budget=5)  # people: 1 request; Jane's 40 orders: 6 pages of 7
        sources = Sources(dm, connect)
        try:
            with pytest.raises(SourceError) as info:
                run_retrieval(
                    dm, build_plan(dm), sources, {"email": JANE}, tmp_path, EngineOptions(sleep=lambda s: None)
                )
        finally:
            sources.dispose()
    assert info.value.source == "api" and "BudgetExceeded" in str(info.value)
    # 5 requests: people 1, orders 3 answered and 1 refused (the API revokes the token after a path's 2nd call);
    # the engine's retries of the collection sent none: the walk's budget was spent
    assert api.calls == {"/people": 1, "/orders": 3} and api.issued == 2
