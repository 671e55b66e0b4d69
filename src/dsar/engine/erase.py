"""Erasure: locate the subject's rows with the retrieval walk, check blockers, then mask or delete them.

Per source, one transaction: first every mask (UPDATE, so rows that must stay lose their links, e.g.
an order's saved address), then the deletes, children before parents. Statements are set-based:
one UPDATE or DELETE per chunk of primary keys. Running it twice is safe: erased values no longer
match the subject, so a second run finds nothing left to change.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Connection, Table, delete, tuple_, update
from sqlalchemy.exc import SQLAlchemyError

from dsar import log
from dsar.datamap.model import DataMap
from dsar.engine.execute import EngineOptions, Sources, normalize_email, run_retrieval
from dsar.engine.plan import Plan
from dsar.errors import DataMapError, SourceError

_log = log.get("dsar.erase")


@dataclass(frozen=True)
class Block:
    code: str
    message: str
    collection: str
    rows: int


@dataclass
class CollectionErasure:
    key: str
    source: str
    table: str
    action: str  # mask | delete | keep
    primary_key: list[str]
    keys: list[tuple[Any, ...]]
    values: dict[str, Any] = field(default_factory=dict)  # column -> new value (mask)
    reason: str = ""

    @property
    def rows(self) -> int:
        return len(self.keys)


@dataclass
class ErasurePlan:
    collections: list[CollectionErasure]
    blocks: list[Block]
    order: list[str]  # collection keys in walk order (parents first)

    @property
    def found(self) -> int:
        return sum(c.rows for c in self.collections)

    def by_source(self) -> dict[str, list[CollectionErasure]]:
        out: dict[str, list[CollectionErasure]] = {}
        for c in self.collections:
            out.setdefault(c.source, []).append(c)
        return out

    def source_order(self) -> list[str]:
        """Sources whose collections come last in the walk first, so a rerun can still reach the rest."""
        last = {c.source: self.order.index(c.key) for c in self.collections}
        for c in self.collections:
            last[c.source] = max(last[c.source], self.order.index(c.key))
        return sorted(last, key=lambda s: -last[s])


def pseudonym(key: bytes, collection: str, column: str, subject: str, length: int | None) -> str:
    """A keyed hash standing in for an erased value: stable per subject and column, reveals nothing."""
    digest = hmac.new(key, f"{collection}.{column}\n{normalize_email(subject)}".encode(), hashlib.sha256).hexdigest()
    value = f"erased-{digest[:32]}"
    return value[:length] if length else value


def locate(
    dm: DataMap, plan: Plan, sources: Sources, email: str, work: Path, opts: EngineOptions, erase_key: bytes
) -> ErasurePlan:
    """Find the subject's rows (primary keys only are kept) and what the data map says to do with them."""
    results, _reports = run_retrieval(dm, plan, sources, {"email": email}, work, opts)
    order = [s.key for unit in plan.units for s in unit.steps]
    out: list[CollectionErasure] = []
    blocks: list[Block] = []
    for res in results:
        if res.status != "found" or res.spool is None:
            continue
        coll = dm.collections[res.key]
        names = {c.name for c in res.columns}
        missing = [c for c in coll.primary_key + [b.column for b in coll.blockers] if c not in names]
        if missing:
            raise DataMapError(
                f"collections.{res.key}: deletion needs the column(s) {', '.join(missing)}, "
                "which are excluded from export; remove them from `exclude`"
            )
        keys: list[tuple[Any, ...]] = []
        blocked = {b.code: 0 for b in coll.blockers}
        for row in _rows(res.spool):
            keys.append(tuple(row[c] for c in coll.primary_key))
            for b in coll.blockers:
                if row[b.column] not in b.not_in:
                    blocked[b.code] += 1
        for b in coll.blockers:
            if blocked[b.code]:
                blocks.append(Block(b.code, b.message, res.key, blocked[b.code]))
        action = coll.erasure_action()
        table = sources.get(res.source).table(dm.table_of(res.key))
        values: dict[str, Any] = {}
        if action == "mask":
            for col, spec in coll.masks().items():
                if spec.erase == "null":
                    values[col] = None
                elif spec.erase == "replace":
                    values[col] = spec.replacement
                else:
                    length = getattr(table.c[col].type, "length", None)
                    values[col] = pseudonym(erase_key, res.key, col, email, length)
        out.append(
            CollectionErasure(
                res.key,
                res.source,
                dm.table_of(res.key),
                action,
                list(coll.primary_key),
                keys,
                values,
                coll.erasure.reason if coll.erasure else "",
            )
        )
    return ErasurePlan(out, blocks, order)


def _rows(spool: Path) -> Iterator[dict[str, Any]]:
    with open(spool, "rb") as fh:
        for line in fh:
            if line.strip():
                yield orjson.loads(line)


def _where(table: Table, pk: list[str], keys: list[tuple[Any, ...]]) -> ColumnElement[bool]:
    if len(pk) == 1:
        return table.c[pk[0]].in_([k[0] for k in keys])
    return tuple_(*(table.c[c] for c in pk)).in_(keys)


def statements(ep: ErasurePlan, sources: Sources, chunk: int) -> Iterator[tuple[str, Any]]:
    """(source, statement) in execution order: per source, masks first, then deletes children-first."""
    by_source = ep.by_source()
    for source in ep.source_order():
        colls = by_source[source]
        src = sources.get(source)
        for c in colls:
            if c.action == "mask" and c.values:
                table = src.table(c.table)
                for i in range(0, c.rows, chunk):
                    yield (
                        source,
                        update(table).where(_where(table, c.primary_key, c.keys[i : i + chunk])).values(c.values),
                    )
        for c in sorted((c for c in colls if c.action == "delete"), key=lambda c: -ep.order.index(c.key)):
            table = src.table(c.table)
            for i in range(0, c.rows, chunk):
                yield source, delete(table).where(_where(table, c.primary_key, c.keys[i : i + chunk]))


def apply(
    ep: ErasurePlan,
    sources: Sources,
    opts: EngineOptions,
    on_source_done: Callable[[str, dict[str, dict[str, Any]]], None],
) -> dict[str, dict[str, Any]]:
    """Run the statements, one transaction per source; report each source once it is committed."""
    record: dict[str, dict[str, Any]] = {}
    by_source = ep.by_source()
    for source in ep.source_order():
        stmts = [stmt for src_name, stmt in statements(ep, sources, opts.chunk_size) if src_name == source]
        attempt = 0
        while True:
            try:
                with sources.get(source).engine.begin() as conn:
                    _execute(conn, stmts)
                break
            except SQLAlchemyError as exc:
                attempt += 1
                _log.warning("erase_failed", source=source, attempt=attempt, error=type(exc).__name__)
                if attempt > opts.retries:
                    raise SourceError(
                        source,
                        f"The data source '{source}' could not be changed ({type(exc).__name__}, {attempt} attempts).",
                    ) from exc
                opts.sleep(opts.backoff_seconds * 2 ** (attempt - 1))
        done = {
            c.key: {"action": c.action, "rows": c.rows, "fields": sorted(c.values), "reason": c.reason}
            for c in by_source[source]
        }
        record.update(done)
        on_source_done(source, done)
    return record


def _execute(conn: Connection, stmts: list[Any]) -> None:
    for stmt in stmts:
        conn.execute(stmt)


def preview(ep: ErasurePlan, sources: Sources, chunk: int) -> Iterator[str]:
    """What a deletion would change, for `dsar tasks preview-deletion`: nothing is executed."""
    for b in ep.blocks:
        yield f"BLOCKED {b.code}: {b.message} ({b.rows} row(s) in {b.collection})"
    for c in ep.collections:
        what = {"mask": f"mask {', '.join(sorted(c.values))}", "delete": "delete rows", "keep": "keep"}[c.action]
        reason = f" ({c.reason})" if c.reason else ""
        yield f"{c.key}: {c.rows} row(s): {what}{reason}"
    for source, stmt in statements(ep, sources, chunk):
        engine = sources.get(source).engine
        sql = stmt.compile(engine, compile_kwargs={"render_postcompile": True})
        yield f"  [{source}] " + " ".join(str(sql).split())
