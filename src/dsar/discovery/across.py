"""References between tables of different sources: how a walk that found a person in one system reaches them
in another (a billing database whose `accounts.shop_customer_id` holds the shop's `customers.id`; a CRM whose
contacts hold the same e-mail addresses as the shop's customers).

The data map writes such a reference as any other, `{column: shop_customer_id, to: shop.customers.id}`, and
one that carries an identity compares normalised values: `{column: email, to: shop.customers.email,
identity: email, match: lower_trim}`, `{column: phone_e164, to: shop.customers.phone, identity: phone}`.

Two kinds are proposed, each with its evidence and a confidence:
- **keys**: a child column whose name names a table of the other source (or that table's own key name, or
  carries the other source's name, `shop_customer_id`), of a compatible type, whose sampled values are looked
  up among the parent's keys (the same bounded, indexed `IN` as within a source). The child's own source must
  have no table of that name (within a source, that one wins). Two systems' integer counters overlap by
  chance: all sampled values found is evidence only when a random number would seldom be a key (the parent's
  sampled keys fill little of their range, or they are text). Then, or when the name carries the other
  source's name, the reference is sure (0.9); a bare name over a dense counter (ids 1..n on both sides)
  stays below the line (0.45: a `REVIEW` comment, not walked; a wrong walk would hand one person another's
  rows). Values found only in part: below the line (with the source's name in the column's and 80% found:
  0.6, walked, `REVIEW`);
- **identities**: a column of e-mail addresses (or of E.164 phone numbers) whose sampled values occur in the
  other source's column of the same kind. The table with more identity kinds is the parent, so a request made
  by phone or customer number there reaches the other system too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from dsar.datamap.identities import lookup_values
from dsar.discovery import detectors as d
from dsar.discovery.candidates import candidates
from dsar.discovery.references import _ROLE, _keys, _name_of, _singular, _stems, common_prefix
from dsar.discovery.scan import SourceScan
from dsar.discovery.schema import Log, SourceReader, Table
from dsar.errors import SourceError

Lookup = Callable[[str, Table, str, list[object]], int]  # (source, table, column, values) -> how many it holds
MAX_VALUES = 200


@dataclass(frozen=True, slots=True)
class CrossRef:
    """`source.table.column` points at `parent_source.parent.parent_column`."""

    source: str
    table: str
    column: str
    parent_source: str
    parent: str
    parent_column: str
    confidence: float
    evidence: str
    identity: str | None = None  # email or phone: the parent's values are normalised as that kind
    match: str = "exact"

    @property
    def to(self) -> str:
        return f"{self.parent_source}.{self.parent}.{self.parent_column}"


def infer_across(scans: list[SourceScan], lookup: Lookup | None = None) -> list[CrossRef]:
    """Every reference proposed between tables of different sources (the best one per child column)."""
    if len(scans) < 2:
        return []
    out: list[CrossRef] = []
    for child in scans:
        for parent in scans:
            if parent is not child:
                out.extend(_keys_across(child, parent, lookup))
    out.extend(_identities_across(scans, lookup))
    best: dict[tuple[str, str, str], CrossRef] = {}
    for r in sorted(out, key=lambda r: -r.confidence):
        best.setdefault((r.source, r.table, r.column), r)
    return list(best.values())


# --- keys ------------------------------------------------------------------------------------------------


def _names_in(scan: SourceScan) -> set[str]:
    prefix = common_prefix([t.name for t in scan.tables])
    return {s for t in scan.tables for s in _stems(t.name, prefix)}


def _unprefixed(column: str, source: str) -> str | None:
    """`shop_customer_id` -> `customer_id` when the other source is named `shop`."""
    low, src = column.lower(), source.lower()
    run_together = (src,) if len(src) >= 4 else ()  # `shopcustomer_id`; a short name (`a`) only with its `_`
    for p in (src + "_", _singular(src) + "_", *run_together):
        if low.startswith(p) and len(low) > len(p) + 2:
            return low[len(p) :]
    return None


def _names(column: str | None, stems: set[str], key: str) -> tuple[bool, bool, str]:
    """(the column's name names the table or its key, it was given without the source's name, the name's stem)."""
    if column is None:
        return False, False, ""
    name = _name_of(column)
    named = name in stems or (column.lower() == key.lower() and key.lower() != "id")
    if not named and len(name) > 3:
        named = any(len(st) >= 4 and name.endswith(st) for st in stems)
    return named, True, name


def _keys_across(child: SourceScan, parent: SourceScan, lookup: Lookup | None) -> list[CrossRef]:
    own = _names_in(child)
    sure_within = {(r.table, r.column) for r in child.refs if r.confidence >= 0.7}
    prefix = common_prefix([t.name for t in parent.tables])
    keys = [(p, k, c) for p in parent.tables for k in _keys(p) if (c := p.column(k)) is not None]
    out: list[CrossRef] = []
    for t in child.tables:
        for col in t.columns:
            if col.kind not in ("int", "text") or (t.name, col.name) in sure_within:
                continue
            if t.primary_key == [col.name] and col.name.lower() in ("id", f"{_singular(t.name)}_id"):
                continue
            unprefixed = _unprefixed(col.name, parent.name)
            for p, key, pcol in keys:
                if pcol.kind != col.kind:
                    continue
                stems = _stems(p.name, prefix)
                # the name without the other source's name first (shop_customer_id), then as it is
                named, qualified, name = _names(unprefixed, stems, key)
                if not named:
                    named, qualified, name = _names(col.name, stems, key)
                    qualified = False
                if named and not qualified and name in own:
                    continue  # the child's own source has a table of that name: within-source inference decides
                if not named:
                    if _ROLE.search(col.name.lower()) and d.person_table(p.name):
                        out.extend(_role(child, t, col.name, parent, p, key, lookup))
                    continue
                out.append(_scored(child, t, col.name, parent, p, key, lookup, qualified, name in stems))
    return out


def _distinct(t: Table, column: str) -> list[object]:
    seen = list(dict.fromkeys(t.values(column)))
    return sorted(seen, key=repr)[:MAX_VALUES]


def _found(parent: SourceScan, p: Table, key: str, values: list[object], lookup: Lookup | None) -> int:
    known = set(p.values(key))
    hits = sum(1 for v in values if v in known)
    rest = [v for v in values if v not in known]
    if rest and lookup is not None and p.indexed(key):
        hits += lookup(parent.name, p, key, rest)
    return hits


def _chance(values: list[object], keys: list[object]) -> float:
    """How likely all these values are keys by chance: the share of numbers the parent's sampled keys take up
    within their range, to the power of how many values there are (a dense counter: 1; text keys: 0)."""
    nums = [int(str(v).strip()) for v in keys if isinstance(v, int) or (isinstance(v, str) and v.strip().isdigit())]
    mine = [v for v in values if isinstance(v, int) or (isinstance(v, str) and v.strip().isdigit())]
    if len(mine) < len(values):
        return 0.0  # not all numbers: text keys do not collide by chance
    if len(set(nums)) < 2:
        return 1.0
    density = min(1.0, len(set(nums)) / (max(nums) - min(nums) + 1))
    return float(density ** len(values))


def _scored(
    child: SourceScan,
    t: Table,
    column: str,
    parent: SourceScan,
    p: Table,
    key: str,
    lookup: Lookup | None,
    qualified: bool,
    names_table: bool = True,
) -> CrossRef:
    values = _distinct(t, column)
    n = len(values)
    hits = _found(parent, p, key, values, lookup) if n else 0
    what = (
        f"name '{column}' names {parent.name}.{p.name}"
        if names_table
        else f"'{column}' is the name of {parent.name}.{p.name}.{key}"
    ) + (f" (and the source {parent.name})" if qualified else "")
    chance = _chance(values, p.values(key)) if n else 1.0
    if not n:
        conf, why = (0.6 if qualified else 0.45), f"{what}; no values sampled"
    elif hits == n and (qualified or chance < 0.001):
        odds = "" if qualified or chance == 0 else f" (by chance: {chance:.0e})"
        conf, why = 0.9, f"{what}; all {n} sampled values found among its keys{odds}"
    elif hits == n:
        conf = 0.45
        why = (
            f"{what}; all {n} sampled values found among its keys, but those keys are a dense counter: an "
            "unrelated number of the same shape would match as well. Add it if the numbers are the same"
        )
    elif hits >= 0.8 * n:
        conf, why = (0.6 if qualified else 0.4), f"{what}; {hits} of {n} sampled values found among its keys"
    else:
        conf, why = 0.3, f"{what} but only {hits} of {n} sampled values are among its keys"
    return CrossRef(child.name, t.name, column, parent.name, p.name, key, conf, why)


def _role(
    child: SourceScan, t: Table, column: str, parent: SourceScan, p: Table, key: str, lookup: Lookup | None
) -> list[CrossRef]:
    values = _distinct(t, column)
    if len(values) < 3 or _found(parent, p, key, values, lookup) < len(values):
        return []
    why = (
        f"'{column}' names a role held by people and all {len(values)} sampled values are keys of "
        f"{parent.name}.{p.name} (names differ)"
    )
    return [CrossRef(child.name, t.name, column, parent.name, p.name, key, 0.5, why)]


# --- identities ------------------------------------------------------------------------------------------


def _normal(kind: str, values: list[object]) -> set[str]:
    return {n for v in values for n in lookup_values(kind, v)}


def _identities_across(scans: list[SourceScan], lookup: Lookup | None) -> list[CrossRef]:
    out: list[CrossRef] = []
    order = {s.name: i for i, s in enumerate(scans)}
    found = {(s.name, t.name): candidates(s, t.name) for s in scans for t in s.tables}  # each table's, once
    kinds = {key: len({c.kind for c in cands if c.certain}) for key, cands in found.items()}
    for kind in ("email", "phone"):
        # e-mail: the sure identities; phone: any phone column may be a parent (the engine normalises its values)
        cols = [
            (s, t, c)
            for s in scans
            for t in s.tables
            for c in found[(s.name, t.name)]
            if c.kind == kind and (c.certain or kind == "phone") and re.match(r"\w+$", c.column)
        ]
        for i, (sa, ta, ca) in enumerate(cols):
            for sb, tb, cb in cols[i + 1 :]:
                if sa is sb:
                    continue
                ka, kb = kinds[(sa.name, ta.name)], kinds[(sb.name, tb.name)]
                # the parent is the table with more identity kinds; a tie goes to the source named first
                a_parent = ka > kb or (ka == kb and order[sa.name] < order[sb.name])
                (sp, tp, cp), (sc, tc, cc) = ((sa, ta, ca), (sb, tb, cb)) if a_parent else ((sb, tb, cb), (sa, ta, ca))
                if kind == "phone" and not cc.certain:
                    continue  # an `exact` lookup of E.164 values needs a sure phone identity: E.164, a person's
                ref = _identity_ref(kind, sc, tc, cc.column, sp, tp, cp.column, lookup)
                if ref is not None:
                    out.append(ref)
    return out


def _identity_ref(
    kind: str,
    child: SourceScan,
    tc: Table,
    cc: str,
    parent: SourceScan,
    tp: Table,
    cp: str,
    lookup: Lookup | None,
) -> CrossRef | None:
    mine = sorted(_normal(kind, tc.values(cc)))[:MAX_VALUES]
    if not mine:
        return None
    theirs = _normal(kind, tp.values(cp))
    hits = sum(1 for v in mine if v in theirs)
    rest = [v for v in mine if v not in theirs]
    if rest and lookup is not None and tp.indexed(cp):
        hits += lookup(parent.name, tp, cp, list(rest))  # as stored: counts only values stored normalised
    if not hits:
        return None
    label = "e-mail addresses" if kind == "email" else "phone numbers"
    why = f"{hits} of {len(mine)} sampled {label} of '{cc}' also in {parent.name}.{tp.name}.{cp}"
    conf = 0.9 if hits >= 3 or hits == len(mine) else 0.7
    match = "lower_trim" if kind == "email" else "exact"
    return CrossRef(child.name, tc.name, cc, parent.name, tp.name, cp, conf, why, kind, match)


def across_sources(scans: list[SourceScan], *, log: Log | None = None) -> list[CrossRef]:
    """`infer_across` with its lookups sent to the sources (one connection each, opened when first asked)."""
    readers: dict[str, SourceReader] = {}
    urls = {s.name: s.url for s in scans}

    def lookup(source: str, table: Table, column: str, values: list[object]) -> int:
        reader = readers.get(source)
        if reader is None:
            try:
                reader = readers[source] = SourceReader(source, urls[source], log)
            except (SourceError, RuntimeError):
                return 0  # it was read a moment ago; without a lookup the samples alone decide
        return reader.present(table, column, values)

    try:
        return infer_across(scans, lookup)
    finally:
        for reader in readers.values():
            reader.close()
