"""Erasure: locate the subject's rows with the retrieval walk, check blockers, then mask or delete them.

Per source, one transaction: first every mask (UPDATE, so rows that must stay lose their links, e.g.
an order's saved address), then the deletes, children before parents. Statements are set-based:
one UPDATE or DELETE per chunk of primary keys. Running it twice is safe: erased values no longer
match the subject, so a second run finds nothing left to change.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from dsar import log
from dsar.connectors.base import Change, root_cause
from dsar.datamap.model import DataMap
from dsar.engine import spool as sealed_spool
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
    dm: DataMap,
    plan: Plan,
    sources: Sources,
    email: str | Mapping[str, str],
    work: Path,
    opts: EngineOptions,
    erase_key: bytes,
) -> ErasurePlan:
    """Find the subject's rows (primary keys only are kept) and what the data map says to do with them.
    `email`: the subject's e-mail, or every identity of the subject (identity name -> value)."""
    identities = {"email": email} if isinstance(email, str) else dict(email)
    # the pseudonyms' subject: the e-mail as always, else the other identities
    email = identities.get("email") or "\n".join(f"{k}={v}" for k, v in sorted(identities.items()))
    results, _reports = run_retrieval(dm, plan, sources, identities, work, opts)
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
        src = sources.get(res.source)
        if action != "keep" and not src.capabilities.erase:
            raise DataMapError(
                f"collections.{res.key}: the source {res.source!r} cannot change rows; "
                "its collections can only be kept (`erasure: keep`)"
            )
        table = src.describe(dm.table_of(res.key))
        values: dict[str, Any] = {}
        if action == "mask":
            for col, spec in coll.masks().items():
                if spec.erase == "null":
                    values[col] = None
                elif spec.erase == "replace":
                    values[col] = spec.replacement
                else:
                    column = table.column(col)
                    length = column.length if column is not None else None
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
    with sealed_spool.open_spool(spool) as fh:
        for line in fh:
            if line.strip():
                yield orjson.loads(line)


def changes(ep: ErasurePlan, source: str) -> list[Change]:
    """What to change in one source, in order: every mask first, then the deletes, children first."""
    colls = ep.by_source().get(source, [])
    out = [Change(c.table, c.primary_key, c.keys, c.values) for c in colls if c.action == "mask" and c.values]
    deletes = sorted((c for c in colls if c.action == "delete"), key=lambda c: -ep.order.index(c.key))
    out.extend(Change(c.table, c.primary_key, c.keys) for c in deletes)
    return out


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
        todo = changes(ep, source)
        attempt = 0
        while True:
            try:
                sources.get(source).erase(todo, chunk=opts.chunk_size)
                break
            except SourceError as exc:
                attempt += 1
                reason = type(root_cause(exc)).__name__
                _log.warning("erase_failed", source=source, attempt=attempt, error=reason)
                if attempt > opts.retries:
                    raise SourceError(
                        source,
                        f"The data source '{source}' could not be changed ({reason}, {attempt} attempts).",
                    ) from root_cause(exc)
                opts.sleep(opts.backoff_seconds * 2 ** (attempt - 1))
        done = {
            c.key: {"action": c.action, "rows": c.rows, "fields": sorted(c.values), "reason": c.reason}
            for c in by_source[source]
        }
        record.update(done)
        on_source_done(source, done)
    return record


def preview(ep: ErasurePlan, sources: Sources, chunk: int) -> Iterator[str]:
    """What a deletion would change, for `dsar tasks preview-deletion`: nothing is executed."""
    for b in ep.blocks:
        yield f"BLOCKED {b.code}: {b.message} ({b.rows} row(s) in {b.collection})"
    for c in ep.collections:
        what = {"mask": f"mask {', '.join(sorted(c.values))}", "delete": "delete rows", "keep": "keep"}[c.action]
        reason = f" ({c.reason})" if c.reason else ""
        yield f"{c.key}: {c.rows} row(s): {what}{reason}"
    for source in ep.source_order():
        for sql in sources.get(source).explain_erase(changes(ep, source), chunk=chunk):
            yield f"  [{source}] " + " ".join(sql.split())
