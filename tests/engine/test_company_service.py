"""A company service as a source, end to end: dsar's app and the reference receiver on loopback ports.

The walk goes from the shop (SQLite) to the service, whose answer comes at once or later through dsar's own
reply route; signatures are checked both ways; a service that never answers ends SOURCE_UNAVAILABLE naming it.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack, closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import httpx
import orjson
import pytest
from examples.company_service.app import create_app as create_service
from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.testclient import TestClient

from dsar.api.app import create_app
from dsar.api.rest.services import services_router
from dsar.bootstrap import Container
from dsar.config import Settings
from dsar.connectors.base import root_cause
from dsar.connectors.service import ServiceAnswer, ServiceConnector
from dsar.connectors.service_replies import MemoryReplyStore, ServiceReplies
from dsar.engine.check import check
from dsar.engine.execute import EngineOptions, run_retrieval
from dsar.errors import SourceError
from dsar.kit.signing import standard_webhook_headers
from tests.live import loopback_server

JANE = "jane.doe@example.com"


def _secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _members() -> dict[str, Any]:
    props = {"id": {"type": "integer"}, "email": {"type": "string"}, "points": {"type": "integer"}}
    rows = [
        {"id": 1, "email": JANE, "points": 120},
        {"id": 2, "email": "bob@example.com", "points": 5},
        {"id": 3, "email": "j.doe@example.org", "points": 7},  # found through the shop's loyalty_id
    ]
    schema = {"type": "object", "properties": props, "required": ["id", "email"]}
    return {"members": {"key": ["id"], "lookups": [["email"], ["id"]], "schema": schema, "rows": rows}}


DATAMAP = """
version: 1
sources:
  shop: {url: "sqlite:///%(shop)s"}
  loyalty: {url: "%(loyalty)s"}
collections:
  shop.customers:
    primary_key: [id]
    identities: {email: {column: email}}
    processing: {purpose: Account, legal_basis: b, retention: r}
  loyalty.members:
    primary_key: [id]
    identities: {email: {column: email}}
    references: [{column: id, to: shop.customers.loyalty_id}]
    processing: {purpose: Loyalty points, legal_basis: b, retention: r}
"""


def _service_url(base: str, secret: str, query: str = "") -> str:
    return "service+" + base.replace("://", f"://dsar:{quote(secret, safe='')}@") + "/dsar" + query


@pytest.fixture
def walk(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Container, dict[str, Any]]]:
    """dsar (its app, serving the reply route) and the receiver; the param: (answer, delay, url query)."""
    answer, delay, query = request.param
    secret, members = _secret(), _members()
    shop = tmp_path / "shop.sqlite"
    with closing(sqlite3.connect(shop)) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT NOT NULL, loyalty_id INTEGER)")
        conn.executemany("INSERT INTO customers VALUES (?, ?, ?)", [(1, JANE, 3), (2, "bob@example.com", 2)])
        conn.commit()
    with ExitStack() as stack:
        service = stack.enter_context(
            loopback_server(lambda _b: create_service(secret, members, answer=answer, delay=delay))
        )
        datamap = tmp_path / "datamap.yaml"
        datamap.write_text(DATAMAP % {"shop": shop, "loyalty": _service_url(service, secret, query)})
        holder: list[Container] = []

        def dsar(base: str) -> FastAPI:
            settings = Settings(
                data_dir=tmp_path / "state", datamap=datamap, secret_key="k" * 32, run_workers=False, public_url=base
            )
            holder.append(Container(settings, with_workers=False))
            return create_app(holder[0])

        stack.enter_context(loopback_server(dsar))
        stack.callback(holder[0].close)
        yield holder[0], members


def _retrieve(container: Container, spool: Path, retries: int = 3) -> dict[str, list[int]]:
    spool.mkdir()
    opts = EngineOptions(retries=retries, sleep=lambda s: None)
    results, _ = run_retrieval(container.datamap, container.plan, container.sources, {"email": JANE}, spool, opts)
    return {
        r.key: sorted(orjson.loads(line)["id"] for line in r.spool.read_bytes().splitlines())
        for r in results
        if r.spool and r.spool.exists()
    }


@pytest.mark.parametrize("walk", [("sync", 0, ""), ("async", 0.2, "?poll=0.05")], indirect=True)
def test_a_walk_reads_the_service_at_once_or_through_the_callback(
    walk: tuple[Container, dict[str, Any]], tmp_path: Path
) -> None:
    container, members = walk
    found = _retrieve(container, tmp_path / "spool")
    assert found == {"shop.customers": [1], "loyalty.members": [1, 3]}  # by e-mail, and by the shop's loyalty_id
    rep = check(container.datamap, container.sources)
    assert rep.ok, rep.errors
    assert "source loyalty: connected (service)" in rep.lines
    assert not [w for w in rep.warnings if "loyalty" in w]  # its lookups are the service's own indexes
    assert not list((tmp_path / "state").rglob("service-replies/**/*.json"))  # each reply taken once
    assert [m["id"] for m in members["members"]["rows"]] == [1, 2, 3]


@pytest.mark.parametrize("walk", [("async", 2, "?poll=0.05&wait=0.3")], indirect=True)
def test_a_service_that_never_calls_back_ends_source_unavailable_naming_it(
    walk: tuple[Container, dict[str, Any]], tmp_path: Path
) -> None:
    container, _ = walk
    with pytest.raises(SourceError) as info:
        _retrieve(container, tmp_path / "spool", retries=1)
    assert info.value.code == "SOURCE_UNAVAILABLE" and info.value.source == "loyalty"
    assert "'loyalty'" in info.value.message and "TimeoutError" in info.value.message
    assert JANE not in info.value.message


@pytest.mark.parametrize("walk", [("sync", 0, "")], indirect=True)
def test_an_erasure_is_applied_once_and_a_retry_is_answered_from_the_first(
    walk: tuple[Container, dict[str, Any]],
) -> None:
    from dsar.connectors.base import Change

    container, members = walk
    src = container.sources.get("loyalty")
    change = [Change("members", ["id"], [(1,)], {"email": "erased", "points": None})]
    src.erase(change, chunk=100)
    members["members"]["rows"][0]["email"] = "changed since"  # a retry must not apply the change again
    src.erase(change, chunk=100)
    assert members["members"]["rows"][0]["email"] == "changed since"
    with pytest.raises(SourceError):  # NOT NULL in the service's schema: nothing changes
        src.erase([Change("members", ["id"], [(2,)], {"email": None})], chunk=100)
    assert members["members"]["rows"][1]["email"] == "bob@example.com"


# --- signatures ------------------------------------------------------------------------------------------


def test_a_request_signed_with_another_secret_is_refused_by_the_service() -> None:
    with loopback_server(lambda _b: create_service(_secret(), _members())) as base:
        src = ServiceConnector("loyalty", _service_url(base, _secret()))
        with pytest.raises(SourceError) as info:
            src.ping()
        src.close()
    assert info.value.source == "loyalty" and str(root_cause(info.value)) == "HTTP 401"


def test_an_answer_not_signed_with_the_sources_secret_is_refused() -> None:
    secret = _secret()
    impostor = FastAPI()

    @impostor.post("/dsar")
    async def answer(request: Request) -> Response:
        body = b'{"status": "ok"}'
        headers = standard_webhook_headers(_secret(), request.headers["webhook-id"], datetime.now(UTC), body)
        return Response(body, 200, headers=headers, media_type="application/json")

    with loopback_server(lambda _b: impostor) as base:
        src = ServiceConnector("loyalty", _service_url(base, secret))
        with pytest.raises(SourceError) as info:
            src.ping()
        src.close()
    cause = root_cause(info.value)
    assert isinstance(cause, ServiceAnswer) and "not signed" in str(cause)


def test_the_reply_route_refuses_wrong_links_and_wrong_signatures() -> None:
    secret, store, now = _secret(), MemoryReplyStore(), datetime.now(UTC)
    replies = ServiceReplies(
        store=store, key=b"k" * 32, public_url="http://dsar", secret_of={"loyalty": secret}.get, now=lambda: now
    )
    app = FastAPI()
    app.include_router(services_router(replies))
    client = TestClient(app)
    reply = "0" * 32 + ".access"
    url = replies.callback_url("loyalty", reply)
    path = urlsplit(url).path + "?" + urlsplit(url).query
    body = b'{"rows": []}'

    def post(target: str, signed_with: str, msg_id: str = reply) -> httpx.Response:
        return client.post(target, content=body, headers=standard_webhook_headers(signed_with, msg_id, now, body))

    assert post(path, _secret()).status_code == 401  # not the source's secret
    assert post(path, secret, msg_id="1" * 32 + ".access").status_code == 401  # signed for another request
    assert post(path.replace("loyalty", "shop"), secret).status_code == 404  # the link is for another source
    assert post(path.replace("signature=", "signature=x"), secret).status_code == 404
    expired = dict(parse_qsl(urlsplit(url).query))
    stale = ServiceReplies(
        store=store,
        key=b"k" * 32,
        public_url="http://dsar",
        secret_of={"loyalty": secret}.get,
        now=lambda: now - timedelta(hours=2),
    ).callback_url("loyalty", reply)
    assert post(urlsplit(stale).path + "?" + urlsplit(stale).query, secret).status_code == 404
    assert replies.take("loyalty", reply) is None and expired["expires"].isdigit()
    assert post(path, secret).status_code == 204
    assert replies.take("loyalty", reply) == body
    assert replies.take("loyalty", reply) is None


def test_a_service_slower_than_its_timeout_is_a_source_failure_naming_it() -> None:
    slow = FastAPI()

    @slow.post("/dsar")
    async def answer() -> Response:
        await asyncio.sleep(1.5)
        return Response(b"{}", 200)

    with loopback_server(lambda _b: slow) as base:
        src = ServiceConnector("loyalty", _service_url(base, _secret(), "?timeout=0.2"))
        with pytest.raises(SourceError) as info:
            src.ping()
        src.close()
    assert info.value.source == "loyalty" and info.value.code == "SOURCE_UNAVAILABLE"
    assert isinstance(root_cause(info.value), httpx.TimeoutException)
