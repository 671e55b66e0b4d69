"""Execute a plan: read each collection once (cycles to a fixpoint), stream rows to spool files.

Only the key values that children need are kept in memory; rows go straight to disk.
"""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as dtime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import IO, Any, BinaryIO, TypeVar, cast

import orjson

from dsar import log
from dsar.connectors.base import Condition, Connector, Read, TableSpec, root_cause
from dsar.datamap import identities as identities_kinds
from dsar.datamap.model import DataMap
from dsar.engine import spool as sealed_spool
from dsar.engine.plan import Match, Plan, Step, Unit
from dsar.engine.results import CollectionResult, ColumnInfo, SourceReport
from dsar.engine.sources import Sources as Sources
from dsar.errors import SourceError

_log = log.get("dsar.engine")
# Datetimes pass through to _default: orjson would write an aware value with its own offset
# (PostgreSQL's timestamptz comes back in the session time zone), but the spool holds UTC with Z.
_OPTS = orjson.OPT_PASSTHROUGH_DATETIME
T = TypeVar("T")


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, datetime):  # naive values are UTC (the data map's `timezone: UTC`)
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat() + "Z"
    if isinstance(value, date | dtime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


@dataclass(frozen=True)
class EngineOptions:
    chunk_size: int = 500
    parallelism: int = 4
    retries: int = 3
    backoff_seconds: float = 0.5
    sleep: Callable[[float], None] = time.sleep
    seal_spool: bool = False  # work files sealed with a key held in memory only (encryption at rest)


@dataclass(frozen=True)
class Selection:
    """Part of the data map for one request (a portability scope, ODR data types): what to export, since when.

    Collections outside `collections` are still read when an exported one is reached through them, but
    only their key columns, and nothing of them is exported.
    """

    collections: frozenset[str]
    since: Mapping[str, tuple[str, datetime]] = field(default_factory=dict)  # key -> (timestamp column, bound)


def normalize_email(value: str) -> str:
    return identities_kinds.normalize_email(value)


def columns_of(dm: DataMap, key: str, table: TableSpec) -> list[ColumnInfo]:
    coll = dm.collections[key]
    out = []
    for col in table.columns:
        if col.name in coll.exclude:
            continue
        spec = coll.fields.get(col.name)
        out.append(
            ColumnInfo(
                col.name,
                {k: list(v) if isinstance(v, list) else v for k, v in col.schema.items()},  # the source's is shared
                tuple(spec.categories) if spec else (),
                spec.description if spec else "",
            )
        )
    return out


def condition(m: Match, values: list[Any]) -> Condition:
    """The port's form of one match with its values (a `lower_trim` condition compares with its first)."""
    if m.mode == "lower_trim" and (m.kind == "identity" or m.identity):
        return Condition(m.column, "lower_trim", values)
    if m.kind == "reference" or len(values) > 1:
        return Condition(m.column, "in", values)
    return Condition(m.column, "equal", values)


def conditions_of(m: Match, values: list[Any]) -> list[Condition]:
    """The port's conditions for one match: one per value where the column is compared as `lower(trim())`."""
    if m.mode == "lower_trim" and (m.kind == "identity" or m.identity):
        return [Condition(m.column, "lower_trim", [v]) for v in values]
    return [condition(m, values)]


Identities = Mapping[str, str | Iterable[str]]  # identity name -> the subject's value (or values)


def _given(identities: Identities, name: str) -> list[str]:
    value = identities.get(name)
    if value is None:
        return []
    return [value] if isinstance(value, str) else [v for v in value if v]


class _Run:
    """State of one retrieval: key sets found so far and the per-collection results."""

    def __init__(
        self,
        dm: DataMap,
        plan: Plan,
        sources: Sources,
        identities: Identities,
        spool_dir: Path,
        opts: EngineOptions,
        selection: Selection | None = None,
    ) -> None:
        self.dm, self.plan, self.sources, self.opts = dm, plan, sources, opts
        self.selection = selection
        self.identities = identities
        self.spool_dir = spool_dir
        self.keys: dict[tuple[str, str], set[Any]] = {}
        self.lock = threading.Lock()
        self.results: dict[str, CollectionResult] = {}
        self.id = uuid.uuid4().hex  # tells adapters which reads belong to one walk (an HTTP source's budget)

    def exported(self, key: str) -> bool:
        return self.selection is None or key in self.selection.collections

    def result_for(self, step: Step, table: TableSpec) -> CollectionResult:
        coll = self.dm.collections[step.key]
        export = self.exported(step.key)
        return CollectionResult(
            key=step.key,
            source=step.source,
            name=self.dm.name_of(step.key),
            description=coll.description,
            columns=columns_of(self.dm, step.key, table) if export else [],
            processing=coll.processing.model_dump(),
            spool=self.spool_dir / f"{step.key}.jsonl" if export else None,
        )

    def conditions(self, step: Step, queried: dict[Match, set[Any]] | None) -> list[tuple[Match, list[Any]]]:
        conds = []
        for m in step.matches:
            kind = self.dm.identities.get(m.identity or "", "")
            if m.kind == "identity":  # normalised: lower_trim compares lower(trim(column)) with it
                given = _given(self.identities, m.identity or "")
                vals: set[Any] = {n for v in given for n in identities_kinds.lookup_values(kind, v)}
            else:
                with self.lock:
                    vals = set(self.keys.get((m.parent or "", m.parent_column or ""), ()))
                if m.identity:  # another source's phone, customer id, e-mail: its normal forms
                    vals = {n for v in vals for n in identities_kinds.lookup_values(kind, v)}
            if queried is not None:
                vals -= queried.setdefault(m, set())
                queried[m] |= vals
            if vals:
                conds.append((m, _sorted(vals)))
        return conds

    def read(
        self,
        step: Step,
        res: CollectionResult,
        conds: list[tuple[Match, list[Any]]],
        fh: IO[bytes] | None,
        seen: set[tuple[Any, ...]] | None,
    ) -> None:
        """Read the rows matching any condition, with retries; append them to the spool."""
        src = self.sources.get(step.source)
        start = fh.tell() if fh is not None else 0

        def attempt() -> tuple[int, dict[str, set[Any]], set[tuple[Any, ...]]]:
            if fh is not None:
                fh.seek(start)  # drop the rows a failed attempt wrote
                fh.truncate()
            return self._read_once(src, step, res, conds, fh, seen)

        found, new_keys, new_seen = self.retrying(step, attempt)
        res.records += found
        if seen is not None:
            seen |= new_seen
        with self.lock:
            for col, vals in new_keys.items():
                self.keys.setdefault((step.key, col), set()).update(vals)

    def retrying(self, step: Step, fn: Callable[[], T]) -> T:
        """fn(), retried with backoff while the source fails; then SourceError (no personal data in it)."""
        attempt = 0
        while True:
            try:
                return fn()
            except (SourceError, OSError) as exc:
                attempt += 1
                reason = type(root_cause(exc)).__name__
                _log.warning(
                    "source_read_failed",
                    source=step.source,
                    collection=step.key,
                    attempt=attempt,
                    error=reason,
                )
                if attempt > self.opts.retries:
                    raise SourceError(
                        step.source,
                        f"The data source '{step.source}' could not be searched ({reason}, {attempt} attempts).",
                    ) from root_cause(exc)
                self.opts.sleep(self.opts.backoff_seconds * 2 ** (attempt - 1))

    def _read_once(
        self,
        src: Connector,
        step: Step,
        res: CollectionResult,
        conds: list[tuple[Match, list[Any]]],
        fh: IO[bytes] | None,
        seen: set[tuple[Any, ...]] | None,
    ) -> tuple[int, dict[str, set[Any]], set[tuple[Any, ...]]]:
        names = [c.name for c in res.columns]
        fetch = (
            names
            + [c for c in step.primary_key if c not in names]
            + [c for c in sorted(step.needed) if c not in names and c not in step.primary_key]
        )
        pos = {c: i for i, c in enumerate(fetch)}
        pk_pos = [pos[c] for c in step.primary_key]
        need_pos = {c: pos[c] for c in step.needed}
        window = self.selection.since.get(step.key) if self.selection else None
        read = Read(
            table=step.table,
            columns=fetch,
            key=step.primary_key,
            conditions=[c for m, v in conds for c in conditions_of(m, v)],
            since=window,
            chunk=self.opts.chunk_size,
            retrieval=self.id,
        )
        local_seen: set[tuple[Any, ...]] = set()
        new_keys: dict[str, set[Any]] = {c: set() for c in step.needed}
        found = 0
        width = len(names)
        for batch in src.read(read):  # a row comes once per read; a cycle's rounds may find it again
            lines = []
            for row in batch:
                if seen is not None:
                    pk = tuple(row[i] for i in pk_pos)
                    if pk in local_seen or pk in seen:
                        continue
                    local_seen.add(pk)
                for col, i in need_pos.items():
                    if row[i] is not None:
                        new_keys[col].add(row[i])
                if fh is None:
                    found += 1
                    continue
                lines.append(orjson.dumps(dict(zip(names, row[:width], strict=True)), default=_default, option=_OPTS))
            if lines and fh is not None:
                fh.write(b"\n".join(lines) + b"\n")
                found += len(lines)
        return found, new_keys, local_seen

    def _table(self, step: Step) -> TableSpec:
        return self.sources.get(step.source).describe(step.table)

    def _spool_writer(self, path: Path) -> BinaryIO:
        if self.opts.seal_spool:
            return cast(BinaryIO, sealed_spool.SpoolWriter(path))
        return open(path, "wb")

    def run_unit(self, unit: Unit) -> None:
        tables = {s.key: self.retrying(s, partial(self._table, s)) for s in unit.steps}
        results = {s.key: self.result_for(s, tables[s.key]) for s in unit.steps}
        handles = {k: self._spool_writer(r.spool) for k, r in results.items() if r.spool}
        try:
            if not unit.cyclic:
                step = unit.steps[0]
                conds = self.conditions(step, None)
                if conds:
                    self.read(step, results[step.key], conds, handles.get(step.key), None)
            else:
                queried: dict[str, dict[Match, set[Any]]] = {s.key: {} for s in unit.steps}
                seen: dict[str, set[tuple[Any, ...]]] = {s.key: set() for s in unit.steps}
                progress = True
                while progress:
                    progress = False
                    for step in unit.steps:
                        conds = self.conditions(step, queried[step.key])
                        if conds:
                            progress = True
                            self.read(step, results[step.key], conds, handles.get(step.key), seen[step.key])
        finally:
            for fh in handles.values():
                fh.close()
        for key, res in results.items():
            res.status = "found" if res.records else "not_found"
            with self.lock:
                self.results[key] = res


def _sorted(values: Iterable[Any]) -> list[Any]:
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=repr)


def run_retrieval(
    dm: DataMap,
    plan: Plan,
    sources: Sources,
    identities: Identities,
    spool_dir: Path,
    opts: EngineOptions,
    selection: Selection | None = None,
    *,
    parallel: bool = True,
) -> tuple[list[CollectionResult], list[SourceReport]]:
    """Find every row of the subject (or of a selection); raise SourceError if a source still fails after retries.

    `parallel`: independent collections are read at the same time by the process's reader threads (up to
    `opts.parallelism`), which shortens a walk whose sources answer over the network. A worker that is
    running other tasks passes False: the walk then reads in the calling thread, one collection after the
    other, since the process is busy anyway and a hand-off per read to a reader thread only adds thread
    switches (B2 in docs/performance.md)."""
    run = _Run(dm, plan, sources, identities, spool_dir, opts, selection)
    wanted = _with_ancestors(plan, selection.collections) if selection else None
    done: set[int] = {
        i for i, unit in enumerate(plan.units) if wanted is not None and not any(s.key in wanted for s in unit.steps)
    }
    running: dict[Future[None], int] = {}
    pool = sources.pool(opts.parallelism)
    try:
        while len(done) < len(plan.units):
            ready = [
                i for i, u in enumerate(plan.units) if i not in done and i not in running.values() and u.after <= done
            ]
            if not parallel or opts.parallelism == 1:
                for i in ready:  # in plan order, which respects `after`
                    run.run_unit(plan.units[i])
                    done.add(i)
                continue
            for i in ready:
                running[pool.submit(run.run_unit, plan.units[i])] = i
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for fut in finished:
                i = running.pop(fut)
                fut.result()
                done.add(i)
    except BaseException:
        for fut in running:
            fut.cancel()
        wait(list(running))  # no reader may still write into the spool directory
        raise
    return _report(dm, run)


def _with_ancestors(plan: Plan, keys: frozenset[str]) -> set[str]:
    out: set[str] = set()
    todo = [k for k in keys if k in plan.steps]
    while todo:
        key = todo.pop()
        if key in out:
            continue
        out.add(key)
        todo.extend(m.parent for m in plan.steps[key].matches if m.parent and m.parent in plan.steps)
    return out


def _report(dm: DataMap, run: _Run) -> tuple[list[CollectionResult], list[SourceReport]]:
    results: list[CollectionResult] = []
    for key in sorted(dm.collections):
        if not run.exported(key):
            continue
        if key in run.results:
            results.append(run.results[key])
        else:
            coll = dm.collections[key]
            results.append(
                CollectionResult(
                    key=key,
                    source=dm.source_of(key),
                    name=dm.name_of(key),
                    description=coll.description,
                    columns=[],
                    processing=coll.processing.model_dump(),
                    status="skipped",
                    detail="not reachable from the subject's identity in the data map",
                )
            )
    reports = []
    for name, src in sorted(dm.sources.items()):
        mine = [r for r in results if r.source == name]
        if not mine:
            continue
        records = sum(r.records for r in mine)
        reports.append(
            SourceReport(
                name=name,
                description=src.description,
                status="found" if records else "not_found",
                records=records,
                collections=[r.key for r in mine],
            )
        )
    return results, reports
