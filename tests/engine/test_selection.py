"""A selection of the data map (a portability scope, ODR data types): export a subset, since a date."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import orjson

from dsar.connectors.registry import connect
from dsar.datamap.loader import load
from dsar.engine.execute import EngineOptions, Selection, Sources, run_retrieval
from dsar.engine.plan import build_plan


def _rows(path: Path | None) -> list[dict[str, object]]:
    assert path is not None
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line]


def test_only_the_selection_is_exported_but_parents_are_walked(demo_dir: Path, tmp_path: Path) -> None:
    dm = load(demo_dir / "datamap.yaml")
    sources = Sources(dm, connect)
    try:
        sel = Selection(frozenset({"shop.order_items", "shop.payments"}))
        results, reports = run_retrieval(
            dm, build_plan(dm), sources, {"email": "jane.doe@example.com"}, tmp_path, EngineOptions(), sel
        )
    finally:
        sources.dispose()
    assert [r.key for r in results] == ["shop.order_items", "shop.payments"]
    assert [r.name for r in reports] == ["shop"]
    with sqlite3.connect(demo_dir / "shop.sqlite") as db:
        items = db.execute(
            "SELECT count(*) FROM order_items WHERE order_id IN (SELECT id FROM orders WHERE customer_id = 1)"
        ).fetchone()[0]
    assert results[0].records == items == len(_rows(results[0].spool))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shop.order_items.jsonl", "shop.payments.jsonl"]


def test_a_time_window_filters_a_collection_and_what_hangs_below_it(demo_dir: Path, tmp_path: Path) -> None:
    dm = load(demo_dir / "datamap.yaml")
    with sqlite3.connect(demo_dir / "shop.sqlite") as db:
        dates = sorted(r[0] for r in db.execute("SELECT placed_at FROM orders WHERE customer_id = 1"))
        since = datetime.fromisoformat(dates[len(dates) // 2]).replace(tzinfo=UTC)
        recent = [
            r[0]
            for r in db.execute(
                "SELECT id FROM orders WHERE customer_id = 1 AND placed_at >= ?", (dates[len(dates) // 2],)
            )
        ]
        items = db.execute(
            f"SELECT count(*) FROM order_items WHERE order_id IN ({','.join('?' * len(recent))})",
            recent,
        ).fetchone()[0]
    assert 0 < len(recent) < len(dates)
    sources = Sources(dm, connect)
    try:
        sel = Selection(frozenset({"shop.orders", "shop.order_items"}), {"shop.orders": ("placed_at", since)})
        results, _ = run_retrieval(
            dm, build_plan(dm), sources, {"email": "jane.doe@example.com"}, tmp_path, EngineOptions(), sel
        )
    finally:
        sources.dispose()
    by_key = {r.key: r for r in results}
    assert sorted(int(str(r["id"])) for r in _rows(by_key["shop.orders"].spool)) == sorted(recent)
    assert by_key["shop.order_items"].records == items
