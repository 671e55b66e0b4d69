"""`dsar datamap check`: the data map against the real sources: tables, columns, indexes, the plan."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from dsar.connectors.base import Connector, NoSuchTable, Read, TableSpec, root_cause
from dsar.datamap.model import DataMap
from dsar.db.engine import unreachable
from dsar.engine.execute import conditions_of
from dsar.engine.plan import Match, build_plan
from dsar.engine.sources import Sources
from dsar.errors import SourceError


@dataclass
class CheckReport:
    lines: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _lower_trim(m: Match) -> bool:
    return m.mode == "lower_trim" and (m.kind == "identity" or bool(m.identity))


def _indexed(indexes: list[tuple[str, ...]], m: Match) -> bool:
    column = m.column.lower()  # the catalogs' names are lower-cased; a mixed-case column is the same lookup
    if _lower_trim(m):
        want = {f"lower(trim({column}))", f"lower(trim(({column})))"}
        return any(ix and ix[0].strip("()") in {w.strip("()") for w in want} for ix in indexes)
    return any(ix and ix[0] == column for ix in indexes)


def _advice(src: Connector, table: str, m: Match) -> str:
    """What to add so a lookup is an index search, in the source's own terms."""
    advise = getattr(src, "index_advice", None)
    if callable(advise):
        return str(advise(table, m.column, expression=_lower_trim(m)))
    if src.kind == "service":
        return f"have the service answer lookups on {m.column!r} (list it under `lookups` in its describe answer)"
    expr = f"lower(trim({m.column}))" if _lower_trim(m) else m.column
    return f"CREATE INDEX ... ON {table} ({expr})"


def check(dm: DataMap, sources: Sources, progress: Callable[[str, int, int], None] | None = None) -> CheckReport:
    """`progress(step, done, total)` is told of each source connected and each table described."""
    rep = CheckReport()
    plan = build_plan(dm)
    reachable_sources: set[str] = set()
    for i, name in enumerate(sorted(dm.sources)):
        if progress is not None:
            progress("sources", i, len(dm.sources))
        manual = dm.sources[name].manual
        if manual is not None:  # a person answers: nothing to connect to (docs/manual-sources.md)
            rep.lines.append(
                f"source {name}: manual (reminders every {manual.remind_every_days} days, "
                f"{manual.on_timeout} after {manual.deadline_days} days)"
            )
            continue
        try:
            src = sources.get(name)
            src.ping()
            reachable_sources.add(name)
            rep.lines.append(f"source {name}: connected ({src.kind})")
        except (SourceError, RuntimeError, OSError) as exc:
            reason = unreachable(dm.sources[name].url, root_cause(exc))
            fix = "check its credentials" if "authentication failed" in reason else "check its url"
            rep.errors.append(f"source {name}: {reason}; {fix}")
    tables: dict[str, TableSpec] = {}
    for i, key in enumerate(sorted(dm.collections)):
        if progress is not None:
            progress("tables", i, len(dm.collections))
        step = plan.steps[key]
        if step.source not in reachable_sources:
            continue
        src = sources.get(step.source)
        try:
            table = src.describe(step.table)
        except NoSuchTable:
            rep.errors.append(f"{key}: table {step.table!r} does not exist in source {step.source!r}")
            continue
        except SourceError as exc:
            rep.errors.append(f"{key}: cannot read table {step.table!r} ({type(root_cause(exc)).__name__})")
            continue
        coll = dm.collections[key]
        # step.needed: the columns children's references point at (`to: <this collection>.<column>`)
        wanted = (
            set(step.primary_key)
            | set(coll.exclude)
            | set(coll.fields)
            | {m.column for m in step.matches}
            | step.needed
        )
        have = set(table.names)
        missing = sorted(c for c in wanted if c not in have)
        if missing:
            rep.errors.append(f"{key}: column(s) {', '.join(missing)} not in table {step.table!r}")
            continue
        tables[key] = table
        indexes = src.indexes(step.table)
        for m in step.matches:
            if not src.capabilities.scan:  # an API: its filters are its only lookups, no index advice applies
                if (m.column.lower(),) in indexes:
                    continue
                rep.errors.append(
                    f"{key}: the source {step.source!r} cannot look rows up by {m.column!r} (its API has no filter "
                    "declared for it); dsar never lists a whole account to find a subject: declare the filter "
                    "under the resource's `filters`, or reach the collection through a column that has one"
                )
                continue
            if not _indexed(indexes, m):
                how = _advice(src, step.table, m)
                rep.warnings.append(
                    f"{key}: lookup column {m.column!r} has no usable index; every request scans the table. Add: {how}"
                )
        rectifiable = sorted(c for c, spec in coll.fields.items() if spec.rectifiable)
        if rectifiable and not src.capabilities.rectify:
            rep.errors.append(
                f"{key}: field(s) {', '.join(rectifiable)} are rectifiable but source {step.source!r} cannot change "
                "values; remove `rectifiable` or use a source that can"
            )
        status = "reachable" if key not in plan.unreachable else "NOT reachable from any identity"
        rep.lines.append(f"{key}: {status}; {len(table.columns)} columns, {len(coll.exclude)} excluded")
    _check_scopes(dm, tables, rep)
    for key in plan.unreachable:
        rep.warnings.append(f"{key}: not reachable from any identity; add an identity or a reference to it")
    rep.lines.append("plan:")
    rep.lines.extend(f"  {line}" for line in plan.describe())
    rep.lines.append("SQL (per collection; values are bound parameters):")
    for unit in plan.units:
        for step in unit.steps:
            if step.source not in reachable_sources:
                continue
            try:
                src = sources.get(step.source)
                table = src.describe(step.table)
                cols = [c for c in table.names if c not in step.exclude]
                conds = [
                    c for m in step.matches for c in conditions_of(m, ["k1", "k2"] if m.kind == "reference" else ["v"])
                ]
                sql = src.explain(Read(step.table, cols, step.primary_key, conds))
                rep.lines.append(f"  -- {step.key}\n  " + " ".join(sql.split()))
            except (SourceError, KeyError):
                continue
    return rep


def _check_scopes(dm: DataMap, tables: dict[str, TableSpec], rep: CheckReport) -> None:
    """Data Portability scopes: their `timestamp` and `where` columns exist; timestamps hold dates or times."""
    section = dm.portability
    if section is None:
        return
    for scope_id, scope in sorted(section.scopes.items()):
        for key, spec in sorted(scope.collections.items()):
            table = tables.get(key)
            if table is None:  # unknown collection (the loader says so) or its table is unreadable
                continue
            at = f"portability.scopes.{scope_id}.collections.{key}"
            for col in sorted(spec.where):
                if table.column(col) is None:
                    rep.errors.append(f"{at}.where: column {col!r} not in table {table.name!r}")
            if spec.timestamp is None:
                continue
            column = table.column(spec.timestamp)
            if column is None:
                rep.errors.append(f"{at}.timestamp: column {spec.timestamp!r} not in table {table.name!r}")
                continue
            if not column.temporal:
                rep.warnings.append(
                    f"{at}.timestamp: column {spec.timestamp!r} is {column.type_name} in table {table.name!r}, not a "
                    "date or time type; the history window compares it as such (ISO 8601 text works, others do not)"
                )
