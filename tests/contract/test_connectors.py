"""One suite over every adapter of the connector port: SQLite, PostgreSQL, MariaDB, DuckDB and the in-memory fake.

Each test gets the same tables and rows loaded into a fresh source of one kind and asserts the same
things of it: reads by keys (chunked, streamed, windowed), the e-mail matching rules, nulls, erasure in
one transaction, rectification (new values, old ones told, all or nothing), description of columns and indexes,
outages and closing.
"""

from __future__ import annotations

import base64
import math
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from dsar.api.rest.services import services_router
from dsar.connectors import registry
from dsar.connectors.base import Before, Change, Condition, Connector, NoSuchTable, Read, Rectifier, root_cause
from dsar.connectors.memory import MemoryConnector, MemoryTable
from dsar.connectors.service import ServiceConnector
from dsar.connectors.service_replies import MemoryReplyStore, ServiceReplies
from dsar.connectors.sql import SqlConnector, quote_every_identifier
from dsar.errors import SourceError
from tests.live import loopback_server

T0 = datetime(2024, 1, 1, 0, 0, 0)
PEOPLE = [
    (1, "jane@example.com", "Jane", T0),
    (2, "  Jane@Example.COM ", None, None),  # the same address as people type it
    (3, "JANE@EXAMPLE.COM", "J.", T0 + timedelta(days=1)),
    (4, "jane@example.co", "Look-alike", T0),
    (5, "bob@example.com", "Bob", T0),
    (6, "janet@example.com", None, T0),
]
HEAVY = 2500  # events of person 1: more than one batch (2,000 rows)
FANOUT = 1200  # persons 10 .. 1209 with one event each: keys across chunk boundaries


def _events() -> list[tuple[Any, ...]]:
    rows = []
    for i in range(1, HEAVY + FANOUT + 1):
        person = 1 if i <= HEAVY else 10 + i - HEAVY - 1
        kind = None if i % 7 == 0 else ("a" if i % 2 == 0 else "b")
        rows.append((i, person, kind, T0 + timedelta(minutes=i)))
    return rows


EVENTS = _events()
TAGS = [(1, "x", "v1"), (1, "y", "v2"), (2, "x", "v3"), (5, "x", "v4")]

META = sa.MetaData()
sa.Table(
    "people",
    META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("email", sa.String(100), nullable=False),
    sa.Column("name", sa.String(50)),
    sa.Column("joined", sa.DateTime),
)
_events_table = sa.Table(
    "events",
    META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("person_id", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(20)),
    sa.Column("at", sa.DateTime, nullable=False),
)
sa.Index("ix_events_person_id", _events_table.c.person_id)
sa.Table(
    "tags",
    META,
    sa.Column("person_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("tag", sa.String(20), primary_key=True),
    sa.Column("value", sa.String(20), nullable=False),
)
DATA = {"people": PEOPLE, "events": EVENTS, "tags": TAGS}


def _sql(url: str) -> SqlConnector:
    engine = sa.create_engine(url)
    quote_every_identifier(engine)
    META.create_all(engine)
    with engine.begin() as conn:
        for name, rows in DATA.items():
            table = META.tables[name]
            conn.execute(table.insert(), [dict(zip(table.c.keys(), r, strict=True)) for r in rows])
    engine.dispose()
    return SqlConnector("s", url)


def _memory() -> MemoryConnector:
    def table(name: str, key: list[str], types: dict[str, type], **kw: Any) -> MemoryTable:
        rows = [dict(zip(types, r, strict=True)) for r in DATA[name]]
        return MemoryTable(key=key, columns=types, rows=rows, **kw)

    return MemoryConnector(
        "s",
        {
            "people": table(
                "people",
                ["id"],
                {"id": int, "email": str, "name": str, "joined": datetime},
                not_null=frozenset({"email"}),
                lengths={"email": 100, "name": 50},
            ),
            "events": table(
                "events",
                ["id"],
                {"id": int, "person_id": int, "kind": str, "at": datetime},
                indexes=[("person_id",)],
                not_null=frozenset({"person_id", "at"}),
                lengths={"kind": 20},
            ),
            "tags": table(
                "tags",
                ["person_id", "tag"],
                {"person_id": int, "tag": str, "value": str},
                not_null=frozenset({"value"}),
                lengths={"tag": 20, "value": 20},
            ),
        },
    )


def _json(value: Any) -> Any:
    return value.isoformat() + "Z" if isinstance(value, datetime) else value


def _service_collections() -> dict[str, dict[str, Any]]:
    """The suite's tables as the reference company service holds them (examples/company_service)."""
    integer, text, when = {"type": "integer"}, {"type": "string"}, {"type": "string", "format": "date-time"}
    shapes: dict[str, tuple[list[str], list[list[str]], dict[str, Any], list[str]]] = {
        "people": (
            ["id"],
            [],
            {
                "id": integer,
                "email": {**text, "maxLength": 100},
                "name": {"type": ["string", "null"], "maxLength": 50},
                "joined": {"type": ["string", "null"], "format": "date-time"},
            },
            ["id", "email"],
        ),
        "events": (
            ["id"],
            [["person_id"]],
            {"id": integer, "person_id": integer, "kind": {"type": ["string", "null"]}, "at": when},
            ["id", "person_id", "at"],
        ),
        "tags": (["person_id", "tag"], [], {"person_id": integer, "tag": text, "value": text}, ["person_id", "tag"]),
    }
    out = {}
    for name, (key, lookups, props, required) in shapes.items():
        rows = [{c: _json(v) for c, v in zip(props, r, strict=True)} for r in DATA[name]]
        schema = {"type": "object", "properties": props, "required": required + (["value"] if name == "tags" else [])}
        out[name] = {"key": key, "lookups": lookups, "schema": schema, "rows": rows}
    return out


@pytest.fixture
def company_service(kind: str) -> Iterator[Connector]:
    """The reference receiver on a loopback port; for `service-async`, dsar's reply route on another one."""
    from examples.company_service.app import create_app

    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    answer = "async" if kind == "service-async" else "sync"
    replies = ServiceReplies(
        store=MemoryReplyStore(),
        key=secrets.token_bytes(32),
        public_url="http://unset",
        secret_of=lambda source: secret if source == "s" else None,
        now=lambda: datetime.now(UTC),
    )

    def dsar_app(base: str) -> FastAPI:
        replies.public_url = base
        app = FastAPI()
        app.include_router(services_router(replies))
        return app

    with (
        loopback_server(lambda base: create_app(secret, _service_collections(), answer=answer)) as service,
        loopback_server(dsar_app),
    ):
        user = "dsar:" + quote(secret, safe="")
        url = "service+" + service.replace("://", f"://{user}@") + "/dsar?poll=0.02&wait=20"
        src = ServiceConnector("s", url, mailbox=replies if answer == "async" else None)
        yield src


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
        "duckdb",
        "service",
        "service-async",
        "memory",
    ]
)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def source(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Connector]:
    if kind == "memory":
        src: Connector = _memory()
    elif kind == "sqlite":
        src = _sql(f"sqlite:///{tmp_path / 's.sqlite'}")
    elif kind.startswith("service"):
        src = request.getfixturevalue("company_service")
    elif kind == "duckdb":
        src = _sql(f"duckdb:///{tmp_path / 's.duckdb'}")
    elif kind == "postgresql":
        src = _sql(request.getfixturevalue("pg_url"))
    else:
        src = _sql(request.getfixturevalue("mysql_url"))
    try:
        yield src
    finally:
        src.close()


def rows(src: Connector, read: Read) -> list[tuple[Any, ...]]:
    return [row for batch in src.read(read) for row in batch]


def people(src: Connector, *conditions: Condition) -> list[int]:
    return sorted(r[0] for r in rows(src, Read("people", ["id"], ["id"], list(conditions))))


# --- describe --------------------------------------------------------------------------------------------


def test_it_names_its_kind_and_capabilities(source: Connector, kind: str) -> None:
    source.ping()
    assert source.kind == kind.removesuffix("-async")
    assert source.capabilities.erase and source.capabilities.explain
    # what the HTTP adapter lacks (tests/contract/test_http_connector.py): lookups by any column, one transaction
    assert source.capabilities.scan and source.capabilities.transactional


def test_describe_gives_the_columns_in_order_with_their_types(source: Connector, kind: str) -> None:
    spec = source.describe("people")
    assert spec.name == "people"
    assert spec.names == ["id", "email", "name", "joined"]
    by_name = {c.name: c for c in spec.columns}
    assert [(c.primary_key, c.nullable) for c in spec.columns][1:] == [(False, False), (False, True), (False, True)]
    assert by_name["id"].primary_key
    assert by_name["id"].schema == {"type": "integer"}
    assert by_name["email"].schema == {"type": "string"}
    assert by_name["name"].schema == {"type": ["string", "null"]}
    assert by_name["joined"].schema == {"type": ["string", "null"], "format": "date-time"}
    if kind != "duckdb":  # DuckDB keeps no text lengths (VARCHAR(n) is VARCHAR)
        assert (by_name["email"].length, by_name["name"].length) == (100, 50)
    assert [c.temporal for c in spec.columns] == [False, False, False, True]
    assert by_name["email"].type_name and spec.column("nope") is None
    assert source.describe("tags").names == ["person_id", "tag", "value"]


def test_describe_of_a_missing_table_says_so(source: Connector) -> None:
    with pytest.raises(NoSuchTable) as info:
        source.describe("nope")
    assert info.value.source == "s" and isinstance(info.value, SourceError)


def test_indexes_start_with_the_key_and_include_plain_indexes(source: Connector) -> None:
    assert ("id",) in source.indexes("people")
    assert ("person_id",) in source.indexes("events")
    assert ("person_id", "tag") in source.indexes("tags")
    assert ("kind",) not in source.indexes("events")


# --- read ------------------------------------------------------------------------------------------------


def test_lower_trim_matches_case_and_surrounding_spaces_and_nothing_else(source: Connector) -> None:
    assert people(source, Condition("email", "lower_trim", ["jane@example.com"])) == [1, 2, 3]
    assert people(source, Condition("email", "lower_trim", ["jane@example.co"])) == [4]
    assert people(source, Condition("email", "lower_trim", ["nobody@example.com"])) == []


def test_equal_matches_the_stored_value(source: Connector) -> None:
    assert people(source, Condition("email", "equal", ["bob@example.com"])) == [5]
    assert people(source, Condition("email", "equal", ["bob@example.co"])) == []


def test_conditions_are_or_ed_and_a_row_comes_once(source: Connector) -> None:
    found = people(source, Condition("email", "lower_trim", ["bob@example.com"]), Condition("id", "in", [5, 6, 99]))
    assert found == [5, 6]


def test_nulls_match_nothing_and_come_back_as_none(source: Connector) -> None:
    got = rows(source, Read("events", ["id", "kind"], ["id"], [Condition("person_id", "in", [1])]))
    assert sum(1 for _, k in got if k is None) == HEAVY // 7
    in_a = rows(source, Read("events", ["id", "kind"], ["id"], [Condition("kind", "in", ["a"])]))
    assert in_a and all(k == "a" for _, k in in_a)
    names = rows(source, Read("people", ["id", "name"], ["id"], [Condition("id", "in", [2, 5])]))
    assert names == [(2, None), (5, "Bob")]


def test_values_come_back_typed_in_the_columns_order(source: Connector) -> None:
    got = rows(source, Read("people", ["joined", "id", "email"], ["id"], [Condition("id", "in", [1])]))
    assert got == [(T0, 1, "jane@example.com")]


def test_a_large_read_streams_in_batches_in_key_order(source: Connector) -> None:
    stream = source.read(Read("events", ["id", "person_id"], ["id"], [Condition("person_id", "in", [1])]))
    assert isinstance(stream, Iterator)
    batches = list(stream)
    assert len(batches) >= 2 and all(0 < len(b) <= 2000 for b in batches)
    assert [r[0] for b in batches for r in b] == list(range(1, HEAVY + 1))


@pytest.mark.parametrize("chunk", [500, 7])
def test_many_keys_are_read_across_chunks_each_row_once(source: Connector, chunk: int) -> None:
    persons = list(range(10, 10 + FANOUT))
    read = Read("events", ["id", "person_id"], ["id"], [Condition("person_id", "in", persons)], chunk=chunk)
    got = rows(source, read)
    assert sorted(r[0] for r in got) == list(range(HEAVY + 1, HEAVY + FANOUT + 1))
    # two conditions over the same rows, chunked: still each row once
    ids = list(range(HEAVY + 1, HEAVY + 601))
    both = Read(
        "events",
        ["person_id", "id"],
        ["id"],
        [Condition("person_id", "in", persons[:900]), Condition("id", "in", ids)],
        chunk=chunk,
    )
    got = rows(source, both)
    assert len(got) == len({r[1] for r in got}) == 900


def test_a_time_window_keeps_rows_from_its_bound(source: Connector) -> None:
    since = T0 + timedelta(minutes=HEAVY - 10)
    read = Read("events", ["id"], ["id"], [Condition("person_id", "in", [1])], since=("at", since))
    assert [r[0] for r in rows(source, read)] == list(range(HEAVY - 10, HEAVY + 1))
    aware = since.replace(tzinfo=UTC) + timedelta(minutes=5)
    read = Read("events", ["id"], ["id"], [Condition("person_id", "in", [1])], since=("at", aware))
    assert [r[0] for r in rows(source, read)] == list(range(HEAVY - 5, HEAVY + 1))


def test_explain_shows_the_statement_without_running_it(source: Connector) -> None:
    text = source.explain(
        Read(
            "people", ["id", "email"], ["id"], [Condition("email", "lower_trim", ["v"]), Condition("id", "in", [1, 2])]
        )
    )
    assert "lower(trim(" in text and "email" in text and "people" in text
    assert "ORDER BY" in text


# --- erase -----------------------------------------------------------------------------------------------


def test_erase_masks_and_deletes_in_one_go(source: Connector) -> None:
    source.erase(
        [
            Change("people", ["id"], [(1,), (3,)], {"email": "erased-1", "name": None}),
            Change("tags", ["person_id", "tag"], [(1, "x"), (2, "x")]),
            Change("events", ["id"], [(i,) for i in range(1, HEAVY + 1)]),
        ],
        chunk=500,
    )
    got = rows(source, Read("people", ["id", "email", "name"], ["id"], [Condition("id", "in", [1, 2, 3])]))
    assert got == [(1, "erased-1", None), (2, "  Jane@Example.COM ", None), (3, "erased-1", None)]
    tags = rows(
        source, Read("tags", ["person_id", "tag"], ["person_id", "tag"], [Condition("person_id", "in", [1, 2, 5])])
    )
    assert tags == [(1, "y"), (5, "x")]
    assert rows(source, Read("events", ["id"], ["id"], [Condition("person_id", "in", [1])])) == []
    assert len(rows(source, Read("events", ["id"], ["id"], [Condition("person_id", "in", [10])]))) == 1


def test_a_failing_erase_changes_nothing(source: Connector) -> None:
    with pytest.raises(SourceError) as info:
        source.erase(
            [
                Change("events", ["id"], [(i,) for i in range(1, 11)]),
                Change("people", ["id"], [(1,)], {"name": "erased"}),
                Change("people", ["id"], [(5,)], {"email": None}),  # NOT NULL: the source refuses
            ],
            chunk=4,
        )
    assert info.value.source == "s" and "bob" not in str(info.value)
    assert len(rows(source, Read("events", ["id"], ["id"], [Condition("person_id", "in", [1])]))) == HEAVY
    assert rows(source, Read("people", ["id", "name", "email"], ["id"], [Condition("id", "in", [1, 5])])) == [
        (1, "Jane", "jane@example.com"),
        (5, "Bob", "bob@example.com"),
    ]


def _rectifier(source: Connector) -> Rectifier:
    assert source.capabilities.rectify  # every adapter of this suite can rectify
    return cast(Rectifier, source)


def test_rectify_sets_new_values_and_tells_the_old_ones(source: Connector) -> None:
    before = _rectifier(source).rectify(
        [
            Change("people", ["id"], [(3,), (1,), (99,)], {"name": "Jane Doe", "joined": T0 + timedelta(days=9)}),
            Change("tags", ["person_id", "tag"], [(1, "y")], {"value": "v9"}),
        ]
    )
    assert before == [
        [Before((1,), {"name": "Jane", "joined": T0}), Before((3,), {"name": "J.", "joined": T0 + timedelta(days=1)})],
        [Before((1, "y"), {"value": "v2"})],
    ]
    got = rows(source, Read("people", ["id", "name", "joined"], ["id"], [Condition("id", "in", [1, 2, 3])]))
    assert got == [(1, "Jane Doe", T0 + timedelta(days=9)), (2, None, None), (3, "Jane Doe", T0 + timedelta(days=9))]
    assert rows(source, Read("tags", ["tag", "value"], ["tag"], [Condition("person_id", "in", [1])])) == [
        ("x", "v1"),
        ("y", "v9"),
    ]


def test_a_refused_rectification_changes_nothing(source: Connector) -> None:
    with pytest.raises(SourceError) as info:
        _rectifier(source).rectify(
            [
                Change("people", ["id"], [(1,)], {"name": "Jane Doe"}),
                Change("people", ["id"], [(5,)], {"email": None}),  # NOT NULL: the source refuses
            ]
        )
    assert info.value.source == "s" and "Jane" not in str(info.value)
    assert rows(source, Read("people", ["id", "name", "email"], ["id"], [Condition("id", "in", [1, 5])])) == [
        (1, "Jane", "jane@example.com"),
        (5, "Bob", "bob@example.com"),
    ]


def test_explain_erase_gives_one_statement_per_chunk_and_changes_nothing(source: Connector) -> None:
    changes = [
        Change("people", ["id"], [(1,), (2,), (3,)], {"email": "x"}),
        Change("events", ["id"], [(i,) for i in range(1, 12)]),
    ]
    lines = list(source.explain_erase(changes, chunk=5))
    assert len(lines) == 1 + math.ceil(11 / 5)
    assert lines[0].startswith("UPDATE") and all(line.startswith("DELETE") for line in lines[1:])
    assert len(rows(source, Read("events", ["id"], ["id"], [Condition("person_id", "in", [1])]))) == HEAVY


# --- outages and closing ---------------------------------------------------------------------------------


def test_a_closed_connector_answers_nothing_more(source: Connector) -> None:
    source.close()
    source.close()  # harmless
    with pytest.raises(SourceError):
        rows(source, Read("people", ["id"], ["id"], [Condition("id", "in", [1])]))
    with pytest.raises(SourceError):
        source.ping()


def _broken(kind: str, tmp_path: Path) -> Connector:
    if kind == "memory":
        src = _memory()
        src.down = True
        return src
    url = {
        "sqlite": f"sqlite:///{tmp_path}/missing-dir/s.sqlite",
        "duckdb": f"duckdb:///{tmp_path}/missing-dir/s.duckdb",
        "service": "service+http://dsar:whsec_c2VjcmV0@127.0.0.1:1/dsar?timeout=2",
        "service-async": "service+http://dsar:whsec_c2VjcmV0@127.0.0.1:1/dsar?timeout=2",
        "postgresql": "postgresql+psycopg://postgres@127.0.0.1:1/nope?connect_timeout=2",
        "mysql": "mysql+pymysql://root@127.0.0.1:1/nope?connect_timeout=2",
    }[kind]
    return registry.connect("s", url)


def test_an_unreachable_source_raises_a_source_error_naming_it(kind: str, tmp_path: Path) -> None:
    src = _broken(kind, tmp_path)
    try:
        for call in (src.ping, lambda: src.describe("people"), lambda: people(src, Condition("id", "in", [1]))):
            with pytest.raises(SourceError) as info:
                call()
            assert info.value.source == "s" and info.value.code == "SOURCE_UNAVAILABLE"
            assert root_cause(info.value) is not info.value  # the driver's error, kept as the cause
    finally:
        src.close()


def test_the_registry_picks_the_adapter_by_scheme(tmp_path: Path) -> None:
    assert isinstance(registry.connect("s", f"sqlite:///{tmp_path}/a.sqlite"), SqlConnector)
    assert registry.scheme_of("postgresql+psycopg://h/db") == "postgresql"
    fake = _memory()
    registry.register("memtest", lambda name, url: fake)
    assert registry.connect("s", "memtest://anything") is fake
    assert isinstance(registry.connect("s", "service+https://dsar:x@example.com/dsar"), ServiceConnector)
