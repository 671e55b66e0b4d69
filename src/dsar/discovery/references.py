"""References between tables: declared foreign keys, and inferred ones from names, types and values.

An inferred reference `child.column -> parent.key` needs a parent key that identifies a row (its primary
key or a unique column) of a compatible type, and a column name that names the parent (`customer_id`,
`customerid`, `id_customer`, `customer`, the parent's key name itself) or, failing that, values that all
lie among the parent's keys. Each gets a confidence and the evidence that led to it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from dsar.discovery.schema import Table

Present = Callable[[Table, str, list[object]], int]  # (parent table, column, values) -> how many it holds


@dataclass(frozen=True, slots=True)
class Ref:
    table: str
    column: str
    parent: str
    parent_column: str
    confidence: float
    evidence: str
    declared: bool = False


def _singular(word: str) -> str:
    w = word.lower()
    for suffix, repl in (("ies", "y"), ("sses", "ss"), ("ses", "s"), ("xes", "x"), ("s", "")):
        if w.endswith(suffix) and len(w) > len(suffix) + 1:
            return w[: -len(suffix)] + repl
    return w


def _stems(table: str, prefix: str) -> set[str]:
    """Names a column may use for a table: `customers` -> customer, customers; `chinook_customer` -> customer."""
    base = table.lower()
    out = {base, _singular(base)}
    if prefix and base.startswith(prefix):
        rest = base[len(prefix) :]
        out |= {rest, _singular(rest)}
    for part in (base.rsplit("_", 1)[-1],):
        if len(part) > 2:
            out |= {part, _singular(part)}
    return {s.replace("_", "") for s in out if s}


def common_prefix(tables: list[str]) -> str:
    """A prefix shared by most tables (`chinook_`, `wp_`), which column names leave out."""
    counts: dict[str, int] = {}
    for t in tables:
        if "_" in t:
            p = t.split("_", 1)[0].lower() + "_"
            counts[p] = counts.get(p, 0) + 1
    if not counts:
        return ""
    best, n = max(counts.items(), key=lambda kv: kv[1])
    return best if n >= max(2, len(tables) // 2) else ""


_HIERARCHY = re.compile(r"parent|manager|reports_?to|supervisor|boss|superior|referr|mentor|^head_")
_ROLE = re.compile(
    r"rep(_|$)|agent|manager|owner|assignee|staff|sales|author|created_by|updated_by|approver|handler|lead(er)?(_|$)"
)
_PEOPLE = re.compile(r"employee|staff|user|agent|person|people|member|account", re.IGNORECASE)
_SUFFIX = re.compile(r"^(?:id_?|fk_?)?(?P<stem>[a-z0-9_]+?)(?:_?(?:id|no|key|fk|code|ref))?$")


def _name_of(column: str) -> str:
    m = _SUFFIX.match(column.lower())
    stem = m.group("stem") if m else column.lower()
    return stem.replace("_", "")


def _compatible(a: str, b: str) -> bool:
    return a == b and a in ("int", "text")


def infer(tables: list[Table], present: Present | None = None, *, use_declared: bool = True) -> list[Ref]:
    """Every reference found, declared ones first; several candidates for one column stay (the best first)."""
    by_name = {t.name: t for t in tables}
    prefix = common_prefix([t.name for t in tables])
    out: list[Ref] = []
    declared: set[tuple[str, str]] = set()
    if use_declared:
        for t in tables:
            for fk in t.foreign_keys:
                if len(fk.columns) != 1 or fk.parent not in by_name:
                    continue
                out.append(
                    Ref(t.name, fk.columns[0], fk.parent, fk.parent_columns[0], 1.0, "declared foreign key", True)
                )
                declared.add((t.name, fk.columns[0]))
    keys = [(p, k, c) for p in tables for k in _keys(p) if (c := p.column(k)) is not None]
    cache: dict[tuple[str, str], set[object]] = {}
    stems = {p.name: _stems(p.name, prefix) for p in tables}
    for t in tables:
        for col in t.columns:
            if (t.name, col.name) in declared or col.kind not in ("int", "text"):
                continue
            if t.primary_key == [col.name] and col.name.lower() in ("id", f"{_singular(t.name)}_id"):
                continue  # a table's own surrogate key points nowhere
            cands: list[Ref] = []
            name, low = _name_of(col.name), col.name.lower()
            for parent, key, pcol in keys:
                if not _compatible(col.kind, pcol.kind) or (parent.name == t.name and key == col.name):
                    continue
                by_name_match = name in stems[parent.name] or (
                    col.name.lower() == key.lower() and key.lower() != "id" and parent.name != t.name
                )
                if not by_name_match and parent.name != t.name and len(name) > 3:
                    # a qualified name: shipping_address_id, billing_address_id -> address
                    by_name_match = any(len(st) >= 4 and name.endswith(st) for st in stems[parent.name])
                # the database is asked (an indexed IN) only for a name match: asking for every pair of
                # columns whose samples overlap would be tables x tables queries on a large schema
                overlap, n = _overlap(t, col.name, parent, key, present if by_name_match else None, cache)
                if by_name_match:
                    if n and overlap == n:
                        conf, why = 0.95, f"name '{col.name}' names table '{parent.name}'; all {n} sampled values found"
                    elif n and overlap >= 0.8 * n:
                        conf, why = 0.8, f"name '{col.name}' names table '{parent.name}'; {overlap} of {n} values found"
                    elif n:
                        conf, why = (
                            0.4,
                            f"name '{col.name}' names table '{parent.name}' but only {overlap} of {n} found",
                        )
                    else:
                        conf, why = 0.7, f"name '{col.name}' names table '{parent.name}'; no values sampled"
                    cands.append(Ref(t.name, col.name, parent.name, key, conf, why))
                elif n >= 3 and overlap == n and parent.name != t.name and (_id_like(col.name) or _ROLE.search(low)):
                    why = f"all {n} sampled values of '{col.name}' are keys of '{parent.name}' (names differ)"
                    cands.append(Ref(t.name, col.name, parent.name, key, 0.5, why))
                elif n and overlap == n and parent.name == t.name and _HIERARCHY.search(col.name.lower()):
                    why = f"'{col.name}' names a hierarchy and all {n} sampled values are keys of its own table"
                    cands.append(Ref(t.name, col.name, parent.name, key, 0.6, why))
            cands.sort(key=lambda r: -r.confidence)
            named = [c for c in cands if c.confidence >= 0.7]
            if named:
                out.extend(named[:1])
            elif cands:
                best = [c for c in cands if c.confidence == cands[0].confidence]
                if len(best) == 1 or cands[0].confidence >= 0.7:
                    out.append(best[0])
                elif _ROLE.search(col.name.lower()) and len([c for c in best if _PEOPLE.search(c.parent)]) == 1:
                    pick = next(c for c in best if _PEOPLE.search(c.parent))
                    why = (
                        f"{pick.evidence}; '{col.name}' names a role held by people, the only such table of {len(best)}"
                    )
                    out.append(Ref(pick.table, pick.column, pick.parent, pick.parent_column, 0.6, why))
                else:  # values fit several tables' keys: keep the one whose name is closest, less sure
                    pick = min(best, key=lambda r: _distance(col.name, r.parent))
                    out.append(
                        Ref(
                            pick.table,
                            pick.column,
                            pick.parent,
                            pick.parent_column,
                            0.35,
                            pick.evidence + f"; {len(best)} tables fit equally",
                        )
                    )
    return out


def _keys(t: Table) -> list[str]:
    keys = [t.primary_key[0]] if len(t.primary_key) == 1 else []
    keys += [u[0] for u in t.unique if len(u) == 1 and u[0] not in [k.lower() for k in keys]]
    real = {c.name.lower(): c.name for c in t.columns}
    return [real[k.lower()] for k in keys if k.lower() in real]


def _id_like(column: str) -> bool:
    low = column.lower()
    return low.endswith(("id", "_no", "_key", "_ref", "_fk", "_to", "_by")) or low.startswith("id_")


def _distance(column: str, table: str) -> int:
    a, b = _name_of(column), _singular(table)
    return sum(1 for x, y in zip(a, b, strict=False) if x != y) + abs(len(a) - len(b))


def _distinct(t: Table, column: str, cache: dict[tuple[str, str], set[object]]) -> set[object]:
    found = cache.get((t.name, column))
    if found is None:
        found = cache[(t.name, column)] = set(t.values(column))
    return found


def _overlap(
    child: Table,
    column: str,
    parent: Table,
    key: str,
    present: Present | None,
    cache: dict[tuple[str, str], set[object]],
) -> tuple[int, int]:
    """(how many distinct sampled values of the child's column the parent's key holds, how many there were)."""
    distinct = _distinct(child, column, cache)
    if not distinct:
        return 0, 0
    if len(distinct) > 200:
        distinct = set(sorted(distinct, key=repr)[:200])
    known = _distinct(parent, key, cache)
    hits = len(distinct & known)
    if hits < len(distinct) and present is not None and parent.indexed(key):
        hits += present(parent, key, [v for v in distinct if v not in known])
    return hits, len(distinct)
