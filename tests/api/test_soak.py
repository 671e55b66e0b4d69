"""Memory soak, counted instead of timed (issue 19; the RSS figures come from `python -m bench.soak`).

Many retrievals in one app leave no more parsed GraphQL documents or cache entries than a few did; query
texts that differ in every request fill the GraphQL caches only to their bound, and long texts not at all;
the SQLite sources' connections keep a small page cache (the default 2 MiB per connection was what grew).
"""

from __future__ import annotations

import gc
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from graphql import DocumentNode

from dsar.api.graphql.schema import CACHE_SIZE, INLINE_CHARS, _ParserCache, _ValidationCache
from dsar.connectors.sql import SQLITE_PAGE_CACHE_KIB
from tests.api.harness import Api, running_api, settings_for

START = (
    "mutation Start($email: String!) { startPersonalDataRetrievalTask("
    "input: {dataSubject: {type: SHOPPER, email: $email}}) { taskId } }"
)
STATUS = "query Status($taskId: String!) { personalDataRetrievalTask(taskId: $taskId) { status } }"
INLINE_STATUS = 'query { personalDataRetrievalTask(taskId: "%s") { status } }'


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path) -> Iterator[Api]:
    with running_api(settings_for(tmp_path_factory.mktemp("soak"), demo_dir)) as a:
        yield a


@pytest.fixture(scope="module")
def emails(demo_dir: Path) -> list[str]:
    with sqlite3.connect(demo_dir / "shop.sqlite") as db:
        return [r[0] for r in db.execute("SELECT email FROM customers ORDER BY id LIMIT 60")]


def _caches() -> tuple[Any, Any]:
    """The LRU caches (functools) behind the schema's parser and validation caches, shared by all requests."""
    return _ParserCache().cached_parse_document, _ValidationCache().cached_validate_document


def _census() -> dict[str, int]:
    gc.collect()
    parse, validate = _caches()
    return {
        "documents": sum(1 for o in gc.get_objects() if type(o) is DocumentNode),
        "parsed texts": parse.cache_info().currsize,
        "validated documents": validate.cache_info().currsize,
    }


def _gql(api: Api, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    r = api.gql(query, variables=variables)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert isinstance(data, dict), r.text
    return data


def _retrieve(api: Api, email: str) -> None:
    task = _gql(api, START, {"email": email})["startPersonalDataRetrievalTask"]["taskId"]
    for _ in range(2000):
        status = _gql(api, STATUS, {"taskId": task})["personalDataRetrievalTask"]["status"]
        if status != "IN_PROGRESS":
            break
    assert status == "COMPLETED"


def test_retrievals_with_variables_add_nothing_to_the_graphql_caches(api: Api, emails: list[str]) -> None:
    for email in emails[:5]:
        _retrieve(api, email)
    before = _census()
    for email in emails[5:]:
        _retrieve(api, email)
    assert _census() == before


def test_distinct_texts_fill_the_caches_only_to_their_bound(api: Api) -> None:
    before = _census()
    for i in range(2 * CACHE_SIZE):
        assert _gql(api, INLINE_STATUS % f"no-such-task-{i}") == {"personalDataRetrievalTask": None}
    after = _census()
    assert after["parsed texts"] == after["validated documents"] == CACHE_SIZE
    # Each cache holds a document per text; both hold the same ones (the parser's), nothing else stays alive.
    assert after["documents"] <= before["documents"] + CACHE_SIZE


def test_long_texts_are_not_cached(api: Api) -> None:
    padding = "# " + "x" * INLINE_CHARS + "\n"
    parse, validate = _caches()
    for i in range(5):
        looked_up = parse.cache_info().hits + parse.cache_info().misses
        checked = validate.cache_info().hits + validate.cache_info().misses
        assert _gql(api, padding + INLINE_STATUS % f"long-{i}") == {"personalDataRetrievalTask": None}
        assert parse.cache_info().hits + parse.cache_info().misses == looked_up
        assert validate.cache_info().hits + validate.cache_info().misses == checked


def test_sqlite_sources_keep_a_small_page_cache(api: Api, emails: list[str], demo_dir: Path) -> None:
    _retrieve(api, emails[0])
    shop = str((demo_dir / "shop.sqlite").resolve())
    sizes = []
    for conn in (o for o in gc.get_objects() if type(o) is sqlite3.Connection):
        try:
            files = [row[2] for row in conn.execute("PRAGMA database_list")]
        except sqlite3.ProgrammingError:  # closed, or bound to another thread (not a source's)
            continue
        if shop in files:
            sizes.append(conn.execute("PRAGMA cache_size").fetchone()[0])
    assert sizes, "no open connection to the demo shop"
    assert set(sizes) == {-SQLITE_PAGE_CACHE_KIB}
