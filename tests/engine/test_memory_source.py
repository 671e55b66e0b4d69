"""The engine against the in-memory fake of the connector port: a walk, a window, an erasure, a preview.

No database here: the walk, the erasure plan and its changes go through the port alone, so any adapter
that passes the contract suite (tests/contract) serves the engine the same way.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from dsar.connectors.base import Capabilities, Connector
from dsar.connectors.memory import MemoryConnector, MemoryTable
from dsar.datamap.model import DataMap
from dsar.engine.erase import apply, locate, preview
from dsar.engine.execute import EngineOptions, Selection, Sources, run_retrieval
from dsar.engine.plan import build_plan
from dsar.errors import DataMapError, SourceError

JANE = "jane@example.com"
PROCESSING = {"purpose": "p", "legal_basis": "b", "retention": "r"}
OPTS = EngineOptions(chunk_size=2, sleep=lambda s: None)
T0 = datetime(2024, 1, 1)


def shop() -> MemoryConnector:
    return MemoryConnector(
        "shop",
        {
            "customers": MemoryTable(
                key=["id"],
                columns={"id": int, "email": str, "name": str},
                rows=[
                    {"id": 1, "email": " Jane@Example.com", "name": "Jane"},
                    {"id": 2, "email": "bob@example.com", "name": "Bob"},
                    {"id": 3, "email": "JANE@EXAMPLE.COM ", "name": None},
                ],
                not_null=frozenset({"email"}),
                lengths={"email": 20},
            ),
            "orders": MemoryTable(
                key=["id"],
                columns={"id": int, "customer_id": int, "placed_at": datetime, "note": str},
                rows=[
                    {"id": 10 + i, "customer_id": 1 + i % 3, "placed_at": T0.replace(month=1 + i), "note": f"n{i}"}
                    for i in range(9)
                ],
            ),
        },
    )


def datamap() -> DataMap:
    return DataMap.model_validate(
        {
            "sources": {"shop": {"url": "memory://shop"}},
            "collections": {
                "shop.customers": {
                    "primary_key": ["id"],
                    "identities": {"email": {"column": "email", "match": "lower_trim"}},
                    "fields": {"email": {"erase": "hash"}, "name": {"erase": "null"}},
                    "processing": PROCESSING,
                },
                "shop.orders": {
                    "primary_key": ["id"],
                    "references": [{"column": "customer_id", "to": "shop.customers.id"}],
                    "fields": {"note": {"erase": "delete_row"}},
                    "processing": PROCESSING,
                },
            },
        }
    )


def sources(dm: DataMap, src: Connector) -> Sources:
    return Sources(dm, lambda name, url: src)


def spool(path: Path | None) -> list[dict[str, Any]]:
    assert path is not None
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_a_walk_reads_the_subjects_rows_through_the_port(tmp_path: Path) -> None:
    dm, src = datamap(), shop()
    results, reports = run_retrieval(dm, build_plan(dm), sources(dm, src), {"email": JANE}, tmp_path, OPTS)
    by_key = {r.key: r for r in results}
    assert [r["id"] for r in spool(by_key["shop.customers"].spool)] == [1, 3]
    assert [r["id"] for r in spool(by_key["shop.orders"].spool)] == [10, 12, 13, 15, 16, 18]  # 2 keys, chunks of 2
    assert spool(by_key["shop.orders"].spool)[0] == {
        "id": 10,
        "customer_id": 1,
        "placed_at": "2024-01-01T00:00:00Z",
        "note": "n0",
    }
    assert by_key["shop.customers"].columns[1].schema == {"type": "string"}
    assert [(r.name, r.records) for r in reports] == [("shop", 8)]


def test_a_selection_window_is_applied_by_the_source(tmp_path: Path) -> None:
    dm, src = datamap(), shop()
    sel = Selection(frozenset({"shop.orders"}), {"shop.orders": ("placed_at", T0.replace(month=6))})
    results, _ = run_retrieval(dm, build_plan(dm), sources(dm, src), {"email": JANE}, tmp_path, OPTS, sel)
    assert [r.key for r in results] == ["shop.orders"]
    assert [r["id"] for r in spool(results[0].spool)] == [15, 16, 18]


def test_an_erasure_masks_and_deletes_through_the_port_and_a_rerun_finds_nothing(tmp_path: Path) -> None:
    dm, src = datamap(), shop()
    srcs = sources(dm, src)
    ep = locate(dm, build_plan(dm), srcs, JANE, tmp_path, OPTS, b"k" * 32)
    lines = list(preview(ep, srcs, OPTS.chunk_size))
    assert "shop.orders: 6 row(s): delete rows" in lines
    assert "  [shop] DELETE FROM orders WHERE (id) IN 2 key(s)" in lines
    before = [dict(r) for r in src.tables["customers"].rows]
    assert src.tables["customers"].rows == before  # the preview changed nothing
    done: list[str] = []
    record = apply(ep, srcs, OPTS, lambda source, _: done.append(source))
    assert done == ["shop"] and record["shop.customers"]["fields"] == ["email", "name"]
    customers = src.tables["customers"].rows
    assert customers[1] == before[1]  # Bob
    assert customers[0]["name"] is None and customers[0]["email"].startswith("erased-")
    assert len(customers[0]["email"]) == 20  # cut to the column's length
    assert [o["id"] for o in src.tables["orders"].rows] == [11, 14, 17]
    (tmp_path / "again").mkdir()
    again = locate(dm, build_plan(dm), srcs, JANE, tmp_path / "again", OPTS, b"k" * 32)
    assert again.found == 0


def test_an_erasure_retries_an_outage_then_names_the_source(tmp_path: Path) -> None:
    dm, src = datamap(), shop()
    srcs = sources(dm, src)
    ep = locate(dm, build_plan(dm), srcs, JANE, tmp_path, OPTS, b"k" * 32)
    src.down = True
    with pytest.raises(SourceError) as info:
        apply(ep, srcs, OPTS, lambda *_: None)
    assert str(info.value) == "The data source 'shop' could not be changed (ConnectionError, 4 attempts)."
    src.down = False
    assert len(src.tables["orders"].rows) == 9


def test_a_source_that_cannot_change_rows_refuses_an_erasure_plan(tmp_path: Path) -> None:
    dm, src = datamap(), shop()
    src.capabilities = Capabilities(erase=False)
    with pytest.raises(DataMapError, match="cannot change rows"):
        locate(dm, build_plan(dm), sources(dm, src), JANE, tmp_path, OPTS, b"k" * 32)
