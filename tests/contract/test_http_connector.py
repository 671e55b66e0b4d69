"""The connector port's contract, on the HTTP adapter, against localstripe (a real Stripe emulator).

The same promises as tests/contract/test_connectors.py, where an API can keep them: columns described,
lookups listed, rows streamed in batches (pages) and each returned once, nulls as None, a time window,
erasure, closing and outages as `SourceError` naming the source. Where the SQL adapters differ the
adapter says so in its capabilities, and these tests check what it does instead: `scan=False` (rows are
found only through the API's filters; any other lookup is refused, never paged through) and
`transactional=False` (erasure goes row by row, each request idempotent).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from dsar.connectors import registry
from dsar.connectors.base import Change, Condition, Read, root_cause
from dsar.connectors.http import HttpConnector
from dsar.connectors.http_client import AuthRefused, BudgetExceeded
from dsar.datamap.loader import parse
from dsar.errors import DataMapError, SourceError
from tests.stripe import KEY, Seed

DATAMAP = """
sources:
  s:
    url: ${STRIPE_URL}
    http:
      definition: stripe
      auth: {type: bearer, token: "${STRIPE_KEY}"}
      max_requests: %(budget)d
      pagination: {size: %(size)d}
collections: {}
"""


def connector(url: str, key: str = KEY, *, size: int = 5, budget: int = 50) -> HttpConnector:
    dm = parse(DATAMAP % {"size": size, "budget": budget}, env={"STRIPE_URL": url, "STRIPE_KEY": key})
    src = registry.connect_source("s", dm.sources["s"])
    assert isinstance(src, HttpConnector)
    return src


@pytest.fixture
def world(stripe_seed: Seed) -> dict[str, Any]:
    jane = stripe_seed.customer("jane@example.com", "Jane")
    upper = stripe_seed.customer("JANE@EXAMPLE.COM", "J.")
    alike = stripe_seed.customer("jane@example.co", "Look-alike")
    bob = stripe_seed.customer("bob@example.com", card=True)  # no name: null
    charges = {jane: [stripe_seed.charge(jane, 100 + i) for i in range(12)], bob: [stripe_seed.charge(bob, 7)]}
    return {"jane": jane, "upper": upper, "alike": alike, "bob": bob, "charges": charges}


@pytest.fixture
def source(localstripe: str, world: dict[str, Any]) -> Iterator[HttpConnector]:
    src = connector(localstripe)
    try:
        yield src
    finally:
        src.close()


def rows(src: HttpConnector, read: Read) -> list[tuple[Any, ...]]:
    return [row for batch in src.read(read) for row in batch]


def customers(src: HttpConnector, *conditions: Condition) -> list[str]:
    return sorted(r[0] for r in rows(src, Read("customers", ["id"], ["id"], list(conditions))))


# --- describe --------------------------------------------------------------------------------------------


def test_it_names_its_kind_and_capabilities(source: HttpConnector) -> None:
    source.ping()
    assert source.kind == "http"
    caps = source.capabilities
    assert caps.erase and caps.explain and not caps.scan and not caps.transactional


def test_describe_gives_the_declared_columns_in_order(source: HttpConnector) -> None:
    spec = source.describe("customers")
    assert spec.names[:4] == ["id", "email", "name", "phone"]
    assert spec.column("email") is not None and spec.column("email").schema == {"type": ["string", "null"]}  # type: ignore[union-attr]
    assert spec.column("address").schema == {"type": ["object", "null"]}  # type: ignore[union-attr]
    assert spec.column("created").schema == {"type": ["integer", "null"]}  # type: ignore[union-attr]


def test_describe_of_an_undeclared_resource_says_so(source: HttpConnector) -> None:
    from dsar.connectors.base import NoSuchTable

    with pytest.raises(NoSuchTable) as info:
        source.describe("nope")
    assert info.value.source == "s"


def test_indexes_are_the_lookups_the_api_can_do(source: HttpConnector) -> None:
    assert source.indexes("customers") == [("email",), ("id",)]
    assert source.indexes("charges") == [("customer",)]


# --- read ------------------------------------------------------------------------------------------------


def test_a_lookup_by_email_uses_the_api_filter_and_nothing_else(source: HttpConnector, world: dict[str, Any]) -> None:
    assert customers(source, Condition("email", "equal", ["jane@example.com"])) == [world["jane"]]
    assert customers(source, Condition("email", "lower_trim", ["jane@example.co"])) == [world["alike"]]
    assert customers(source, Condition("email", "lower_trim", ["nobody@example.com"])) == []


def test_a_lookup_by_id_goes_through_the_path_and_an_unknown_id_is_no_row(
    source: HttpConnector, world: dict[str, Any]
) -> None:
    assert customers(source, Condition("id", "in", [world["bob"], "cus_unknown"])) == [world["bob"]]


def test_a_lookup_on_a_column_without_a_filter_is_refused_without_a_request(source: HttpConnector) -> None:
    before = source.session.requests
    with pytest.raises(DataMapError) as info:
        rows(source, Read("customers", ["id"], ["id"], [Condition("name", "equal", ["Jane"])]))
    assert "name" in str(info.value) and "list" in str(info.value)
    assert source.session.requests == before


def test_conditions_are_or_ed_and_a_row_comes_once(source: HttpConnector, world: dict[str, Any]) -> None:
    found = customers(
        source, Condition("email", "equal", ["bob@example.com"]), Condition("id", "in", [world["bob"], world["jane"]])
    )
    assert found == sorted([world["bob"], world["jane"]])


def test_nulls_come_back_as_none_in_the_columns_order(source: HttpConnector, world: dict[str, Any]) -> None:
    got = rows(source, Read("customers", ["name", "id", "email"], ["id"], [Condition("id", "in", [world["bob"]])]))
    assert got == [(None, world["bob"], "bob@example.com")]


def test_rows_stream_page_by_page_each_once(source: HttpConnector, world: dict[str, Any]) -> None:
    read = Read("charges", ["id", "customer", "amount"], ["id"], [Condition("customer", "in", [world["jane"]])])
    stream = source.read(read)
    assert isinstance(stream, Iterator)
    before = source.session.requests
    first = next(stream)
    assert len(first) == 5 and source.session.requests == before + 1  # one page asked, one page given
    batches = [first, *stream]
    got = [r for b in batches for r in b]
    assert len(batches) == 3 and sorted(r[0] for r in got) == sorted(world["charges"][world["jane"]])
    assert {r[1] for r in got} == {world["jane"]}
    both = Read("charges", ["id"], ["id"], [Condition("customer", "in", [world["jane"], world["bob"]])])
    assert len(rows(source, both)) == 13


def test_a_lookup_that_needs_more_requests_than_the_budget_fails(localstripe: str, world: dict[str, Any]) -> None:
    src = connector(localstripe, size=2, budget=3)
    try:
        read = Read("charges", ["id"], ["id"], [Condition("customer", "in", [world["jane"]])])
        with pytest.raises(BudgetExceeded) as info:
            rows(src, read)
        assert info.value.source == "s" and "max_requests" in str(info.value)
        assert src.session.requests == 3
    finally:
        src.close()


def test_a_time_window_keeps_rows_from_its_bound(source: HttpConnector, world: dict[str, Any]) -> None:
    cond = [Condition("customer", "in", [world["jane"]])]
    now = datetime.now()
    past = Read("charges", ["id"], ["id"], cond, since=("created", now - timedelta(days=1)))
    future = Read("charges", ["id"], ["id"], cond, since=("created", now + timedelta(days=1)))
    assert len(rows(source, past)) == 12 and rows(source, future) == []


def test_explain_shows_the_requests_without_sending_them(source: HttpConnector) -> None:
    before = source.session.requests
    text = source.explain(
        Read("customers", ["id"], ["id"], [Condition("email", "lower_trim", ["v"]), Condition("name", "in", [1])])
    )
    assert "GET /v1/customers?email=<value>" in text and "NO FILTER on name" in text
    assert source.session.requests == before


# --- erase -----------------------------------------------------------------------------------------------


def test_erase_masks_and_deletes_row_by_row_and_a_rerun_is_harmless(
    source: HttpConnector, world: dict[str, Any]
) -> None:
    changes = [
        Change("customers", ["id"], [(world["upper"],)], {"name": "Erased", "phone": None}),
        Change("customers", ["id"], [(world["jane"],), (world["bob"],)]),
    ]
    source.erase(changes, chunk=500)
    source.erase(changes, chunk=500)  # the deleted answer 404 now: done already
    assert customers(source, Condition("id", "in", [world["jane"], world["bob"]])) == []
    got = rows(source, Read("customers", ["id", "name"], ["id"], [Condition("id", "in", [world["upper"]])]))
    assert got == [(world["upper"], "Erased")]


def test_a_failing_erase_names_the_source_and_no_personal_data(source: HttpConnector) -> None:
    with pytest.raises(SourceError) as info:  # Stripe refuses an unknown field: 400
        source.erase([Change("customers", ["id"], [("cus_x",)], {"no_such_field": "x"})], chunk=5)
    assert info.value.source == "s" and "example" not in str(info.value)


def test_explain_erase_gives_one_line_per_chunk_and_changes_nothing(
    source: HttpConnector, world: dict[str, Any]
) -> None:
    keys = [(world["jane"],), (world["bob"],), (world["alike"],)]
    lines = list(source.explain_erase([Change("customers", ["id"], keys)], chunk=2))
    assert lines == [
        "DELETE /v1/customers/{id}: 2 request(s), one per row",
        "DELETE /v1/customers/{id}: 1 request(s), one per row",
    ]
    assert len(customers(source, Condition("id", "in", [k[0] for k in keys]))) == 3


# --- auth, outages and closing -----------------------------------------------------------------------------


def test_a_refused_key_fails_the_ping_and_says_it_is_the_credentials(localstripe: str) -> None:
    src = connector(localstripe, key="pk_not_a_secret_key")
    try:
        with pytest.raises(SourceError) as info:
            src.ping()
        assert isinstance(root_cause(info.value), AuthRefused) and "401" in str(root_cause(info.value))
    finally:
        src.close()


def test_a_closed_connector_answers_nothing_more(source: HttpConnector, world: dict[str, Any]) -> None:
    source.close()
    source.close()
    with pytest.raises(SourceError):
        customers(source, Condition("id", "in", [world["jane"]]))
    with pytest.raises(SourceError):
        source.ping()


def test_an_unreachable_source_raises_a_source_error_naming_it() -> None:
    dm = parse(
        DATAMAP % {"size": 5, "budget": 5},
        env={"STRIPE_URL": "http://127.0.0.1:1", "STRIPE_KEY": KEY},
    )
    src = registry.connect_source(
        "s",
        dm.sources["s"].model_copy(
            update={"http": dm.sources["s"].http.model_copy(update={"retries": 1, "backoff_seconds": 0.01})}
        ),
    )  # type: ignore[union-attr]
    try:
        for call in (src.ping, lambda: customers(src, Condition("id", "in", ["cus_1"]))):  # type: ignore[arg-type]
            with pytest.raises(SourceError) as info:
                call()
            assert info.value.source == "s" and info.value.code == "SOURCE_UNAVAILABLE"
            assert isinstance(root_cause(info.value), httpx.ConnectError)
    finally:
        src.close()
