"""The HTTP adapter's other pagination styles, auth kinds and a JSON masking update, over a real loopback API.

(Stripe's `has_more` is tested against localstripe, `Link` and OAuth 2 in test_http_sources.py.)
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dsar.connectors.base import Change, Condition, Read
from dsar.connectors.http import HttpConnector
from dsar.connectors.registry import connect_source
from dsar.datamap.loader import parse
from tests.live import loopback_server

ITEMS = [{"id": i, "owner": "a" if i % 4 else "b", "note": f"n{i}"} for i in range(1, 48)]
MAP = """
sources:
  api:
    url: %(url)s
    http:
      auth: %(auth)s
      pagination: %(pagination)s
      resources:
        items:
          path: /items
          rows: %(rows)s
          columns: {id: integer, owner: string, note: string}
          filters: {owner: {param: owner}, id: {path: "/items/{value}", rows: ""}}
          update: {method: PATCH, path: "/items/{id}", body: json}
collections: {}
"""
AUTHS = {
    "basic": ('{type: basic, username: dsar, password: "${SECRET}"}', "Basic " + base64.b64encode(b"dsar:pw").decode()),
    "header": ('{type: header, name: X-Api-Key, value: "${SECRET}"}', "pw"),
    "bearer": ('{type: bearer, token: "${SECRET}"}', "Bearer pw"),
}
STYLES = {
    # pagination, where the rows are
    "page": ("{type: page, param: page, start: 1, size_param: per_page, size: 10}", "items"),
    "page_no_size": ("{type: page, param: page, start: 0}", "items"),
    "offset": ("{type: offset, param: offset, size_param: limit, size: 10}", "result.items"),
    "cursor": ("{type: cursor, param: cursor, next: meta.next}", "items"),
}


class Api:
    def __init__(self, style: str, auth: str) -> None:
        self.style, self.auth = style, auth
        self.requests = 0
        self.patches: list[tuple[int, dict[str, Any]]] = []

    def app(self, base: str) -> Starlette:
        def allowed(request: Request) -> bool:
            self.requests += 1
            if self.auth == "header":
                return request.headers.get("x-api-key") == AUTHS["header"][1]
            return request.headers.get("authorization") == AUTHS[self.auth][1]

        async def items(request: Request) -> Response:
            if not allowed(request):
                return Response(status_code=401)
            q = request.query_params
            mine = [i for i in ITEMS if i["owner"] == q["owner"]]
            size = 10 if self.style != "page_no_size" else 7  # the server's own page size when none is asked
            if self.style.startswith("page"):
                start = (int(q["page"]) - (1 if self.style == "page" else 0)) * size
            elif self.style == "offset":
                start = int(q["offset"])
            else:
                start = int(q.get("cursor", "0"))
            page = mine[start : start + size]
            if self.style == "offset":
                return JSONResponse({"result": {"items": page}})
            body: dict[str, Any] = {"items": page}
            if self.style == "cursor":
                body["meta"] = {"next": str(start + size) if start + size < len(mine) else None}
            return JSONResponse(body)

        async def item(request: Request) -> Response:
            if not allowed(request):
                return Response(status_code=401)
            wanted = int(request.path_params["id"])
            found = [i for i in ITEMS if i["id"] == wanted]
            if request.method == "PATCH":
                self.patches.append((wanted, await request.json()))
                return JSONResponse({})
            return JSONResponse(found[0]) if found else Response(status_code=404)

        return Starlette(routes=[Route("/items", items), Route("/items/{id}", item, methods=["GET", "PATCH"])])


@pytest.fixture(params=[(s, a) for s, a in zip(STYLES, [*AUTHS, "bearer"], strict=True)], ids=list(STYLES))
def served(request: pytest.FixtureRequest) -> Iterator[tuple[HttpConnector, Api]]:
    style, auth = request.param
    api = Api(style, auth)
    pagination, rows = STYLES[style]
    with loopback_server(api.app) as base:
        text = MAP % {"url": base, "auth": AUTHS[auth][0], "pagination": pagination, "rows": rows}
        src = connect_source("api", parse(text, env={"SECRET": "pw"}).sources["api"])
        assert isinstance(src, HttpConnector)
        try:
            yield src, api
        finally:
            src.close()


def test_every_page_is_read_and_nothing_more(served: tuple[HttpConnector, Api]) -> None:
    src, api = served
    got = [r for b in src.read(Read("items", ["id", "note"], ["id"], [Condition("owner", "equal", ["a"])])) for r in b]
    want = sorted((i["id"], i["note"]) for i in ITEMS if i["owner"] == "a")
    assert sorted(got) == want and len(got) == len(set(got)) == 36
    pages = {"page": 4, "page_no_size": 7, "offset": 4, "cursor": 4}[api.style]  # 36 rows; 7 a page: 6 + empty
    assert api.requests == pages


def test_a_path_lookup_and_a_json_update(served: tuple[HttpConnector, Api]) -> None:
    src, api = served
    got = [r for b in src.read(Read("items", ["id", "owner"], ["id"], [Condition("id", "in", [4, 99])])) for r in b]
    assert got == [(4, "b")]
    src.erase([Change("items", ["id"], [(4,), (8,)], {"note": None, "owner": "erased"})], chunk=10)
    assert api.patches == [(4, {"note": None, "owner": "erased"}), (8, {"note": None, "owner": "erased"})]


def test_an_api_that_ignores_the_page_parameter_is_caught_on_the_second_page() -> None:
    from dsar.connectors.base import root_cause
    from dsar.errors import SourceError

    api = Api("page", "bearer")

    def app(base: str) -> Starlette:
        async def items(request: Request) -> Response:
            api.requests += 1
            return JSONResponse({"items": ITEMS[:10]})

        return Starlette(routes=[Route("/items", items)])

    with loopback_server(app) as base:
        pagination, rows = STYLES["page"]
        text = MAP % {"url": base, "auth": AUTHS["bearer"][0], "pagination": pagination, "rows": rows}
        src = connect_source("api", parse(text, env={"SECRET": "pw"}).sources["api"])
        try:
            with pytest.raises(SourceError) as info:
                list(src.read(Read("items", ["id"], ["id"], [Condition("owner", "equal", ["a"])])))
        finally:
            src.close()
    assert "the same page twice" in str(root_cause(info.value)) and api.requests == 2
