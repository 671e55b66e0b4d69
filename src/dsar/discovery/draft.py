"""The draft data map `dsar datamap discover` writes: YAML that loads and passes `dsar datamap check` as is,
with the evidence and the confidence of everything it guessed in comments, and `# REVIEW` where a person
must decide.

Identities: the sure candidates of `candidates` (e-mail, E.164 phone, customer number), several e-mail
columns of a table as a list; the unsure ones are `REVIEW` comments.

Which references become walks: from a table with an identity (or one reached from it) to the tables
that point at it; and, reversed, to a table with personal data it points at (a customer's address). Never
into a table whose rows have their own identity (those rows are other people's: an employee's request would
otherwise get the customers that employee serves), never a table to itself; those are left in comments.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.engine import make_url

from dsar.datamap.identities import KINDS
from dsar.discovery import detectors as d
from dsar.discovery.across import CrossRef
from dsar.discovery.candidates import Candidate, candidates, has_identity, sure
from dsar.discovery.references import Ref
from dsar.discovery.scan import IDENT, SourceScan
from dsar.discovery.schema import Column, Table

FOLLOW = 0.5  # references at least this sure are walked (below 0.8 they are marked for review)
SURE = 0.8


@dataclass
class Walk:
    """For one source: the references each table gets, and what was left out and why."""

    refs: dict[str, list[tuple[str, str, str, Ref]]] = field(default_factory=dict)  # table -> (col, parent, pcol, why)
    notes: dict[str, list[str]] = field(default_factory=dict)
    reached: set[str] = field(default_factory=set)
    owners: set[str] = field(default_factory=set)  # tables with a sure identity of their own: the entry points


def q(value: str) -> str:
    """A YAML scalar: plain when safe, else a JSON (YAML double-quoted) string."""
    if IDENT.match(value) and value.lower() not in ("null", "true", "false", "yes", "no", "on", "off", "y", "n"):
        return value
    return json.dumps(value, ensure_ascii=False)


def plan_walk(scan: SourceScan, seeds: frozenset[str] = frozenset()) -> Walk:
    """The walk within one source; `seeds`: tables a reference from another source reaches."""
    w = Walk()
    w.owners = {t.name for t in scan.tables if has_identity(scan, t.name)}
    roots = [t.name for t in scan.tables if t.name in w.owners or t.name in seeds]
    holders = {t.name for t in scan.tables if scan.personal_columns(t.name, at_least=0.6)}
    w.reached = set(roots)
    children: dict[str, list[Ref]] = {}
    for r in scan.refs:
        children.setdefault(r.parent, []).append(r)
    queue = deque(roots)
    while True:
        while queue:  # forward: the tables that point at a reached one
            here = queue.popleft()
            for r in children.get(here, []):
                if _skip(scan, w, r, r.table, r.confidence):
                    continue
                _add(w, r.table, (r.column, r.parent, r.parent_column, r))
                if r.table not in w.reached:
                    w.reached.add(r.table)
                    queue.append(r.table)
        # reversed: a table with personal data that reached tables point at and nothing reaches yet
        for r in scan.refs:
            if (
                r.table in w.reached
                and r.parent not in w.reached
                and r.parent in holders
                and r.confidence >= FOLLOW
                and r.parent not in w.owners
            ):
                rev = Ref(
                    r.parent, r.parent_column, r.table, r.column, r.confidence, r.evidence + "; walked in reverse"
                )
                _add(w, r.parent, (r.parent_column, r.table, r.column, rev))
                queue.append(r.parent)
        if not queue:
            return w
        w.reached.update(queue)


def _skip(scan: SourceScan, w: Walk, r: Ref, child: str, conf: float) -> bool:
    if conf < FOLLOW:
        _note(
            w,
            child,
            f"candidate reference {r.column} -> {r.parent}.{r.parent_column} not walked "
            f"(confidence {conf:.2f}: {r.evidence})",
        )
        return True
    if child == r.parent:
        _note(
            w,
            child,
            f"self-reference {r.column} -> {r.parent}.{r.parent_column} not walked: it reaches other "
            "people's rows (e.g. a manager's reports)",
        )
        return True
    if child in w.owners:
        _note(
            w,
            child,
            f"reference {r.column} -> {r.parent}.{r.parent_column} not walked: {child} rows have their "
            "own identity (other people)",
        )
        return True
    return False


def _add(w: Walk, table: str, item: tuple[str, str, str, Ref]) -> None:
    have = w.refs.setdefault(table, [])
    if not any(h[:3] == item[:3] for h in have):
        have.append(item)


def _note(w: Walk, table: str, text: str) -> None:
    notes = w.notes.setdefault(table, [])
    if text not in notes:
        notes.append(text)


def proposal(f: d.Finding, col: Column, key: bool) -> tuple[str, str | None, str | None]:
    """(erase strategy, replacement, a review note) for a personal column."""
    if f.category == d.UNIQUE_ID:
        return "keep", None, None
    if key:
        return "keep", None, "part of the primary key: masking it would break the row's identity"
    roomy = col.length is None or col.length >= 8
    if f.category == d.EMAIL and col.kind == "text":
        return "hash", None, None
    if f.category.startswith(d.NAME) and col.kind == "text" and roomy:
        return "replace", "Erased", None
    if col.nullable:
        return "null", None, None
    if col.kind == "text" and roomy:
        return "replace", "erased", "NOT NULL column: replaced with a placeholder"
    return "keep", None, "NOT NULL and too short or not text: cannot be masked in place; consider deleting the rows"


def source_url(name: str, url: str) -> tuple[str, str | None]:
    """The URL to write, its password (if any) replaced by ${<NAME>_PASSWORD}, and that variable's name."""
    try:
        u = make_url(url)
    except Exception:
        return url, None
    if not u.password:
        return url, None
    var = f"{name.upper()}_PASSWORD"
    shown = u.render_as_string(hide_password=True).replace("***", "${" + var + "}", 1)
    return shown, var


def plan_walks(scans: list[SourceScan], cross: Sequence[CrossRef] = ()) -> dict[str, Walk]:
    """Each source's walk, seeded by the references from other sources whose parent a walk reaches (to a
    fixpoint: a table reached through one source may be the parent of a reference from a third)."""
    seeds: dict[str, set[str]] = {s.name: set() for s in scans}
    while True:
        walks = {s.name: plan_walk(s, frozenset(seeds[s.name])) for s in scans}
        grown = False
        for r in cross:
            parent = walks.get(r.parent_source)
            reached = r.confidence >= FOLLOW and parent is not None and r.parent in parent.reached
            if reached and r.source in seeds and r.table not in seeds[r.source] and not _others(r, walks):
                seeds[r.source].add(r.table)
                grown = True
        if not grown:
            return walks


def render(scans: list[SourceScan], cross: Sequence[CrossRef] = ()) -> str:
    """The draft data map as YAML text; `cross`: references between tables of different sources."""
    out = [
        "# Draft data map written by `dsar datamap discover`. Review it before use:",
        "# - lines marked REVIEW are guesses (confidence below 0.8) or choices a person must make;",
        "# - `processing` holds placeholders: fill in purpose, legal basis and retention (GDPR Art. 13-15);",
        "# - erase strategies are proposals from the data categories; check them against retention law.",
        "# Evidence quotes counts and names only, never sampled values.",
        "version: 1",
        "identities:",
        *(f"  {kind}: {kind}" for kind in declared_kinds(scans)),
        "sources:",
    ]
    for s in scans:
        url, var = source_url(s.name, s.url)
        out.append(f"  {s.name}:")
        out.append(f"    url: {q(url)}" + (f"  # set {var} in the environment" if var else ""))
        out.append(f"    description: {q(f'{s.dialect} source, {len(s.tables)} tables')}")
    out.append("collections:")
    skipped: list[str] = []
    walks = plan_walks(scans, cross)
    for s in scans:
        walk = walks[s.name]
        for t in s.tables:
            pd = s.personal_columns(t.name)
            lines = _cross_lines([r for r in cross if r.source == s.name and r.table == t.name], walks)
            if t.name not in walk.reached and not pd:
                skipped.append(f"{s.name}.{t.name}")
                skipped.extend(f"    REVIEW: {note}" for note in lines[1])
                continue
            out.extend(_collection(s, t, walk, lines))
    if not any(line.startswith("  ") and not line.startswith("  #") for line in out[out.index("collections:") :]):
        out[out.index("collections:")] = "collections: {}  # no table with personal data that can be mapped"
    if skipped:
        out.append("# Tables without personal data found and not linked to any that has (not collections):")
        out.extend(f"#   {name}" for name in skipped)
    return "\n".join(out) + "\n"


def _others(r: CrossRef, walks: dict[str, Walk]) -> bool:
    """A key reference from a table whose rows have their own identity: those rows are other people's (a
    ticket's requester, not the agent it points at); a shared e-mail or phone is the same person."""
    return r.identity is None and r.source in walks and r.table in walks[r.source].owners


def _cross_lines(refs: list[CrossRef], walks: dict[str, Walk]) -> tuple[list[str], list[str]]:
    """(reference lines, REVIEW notes) for one table's references to other sources."""
    lines: list[str] = []
    notes: list[str] = []
    for r in refs:
        if _others(r, walks) and r.confidence >= FOLLOW:
            notes.append(
                f"reference {r.column} -> {r.to} (another source, confidence {r.confidence:.2f}: {r.evidence}) not "
                f"walked: {r.table} rows have their own identity (other people); add it if they are the same person"
            )
            continue
        reached = r.parent in walks[r.parent_source].reached if r.parent_source in walks else False
        if r.confidence < FOLLOW or not reached or not (IDENT.match(r.column) and IDENT.match(r.parent_column)):
            why = f"confidence {r.confidence:.2f}" if r.confidence < FOLLOW else "its parent is reached by no walk"
            notes.append(f"candidate reference {r.column} -> {r.to} (another source) not walked ({why}: {r.evidence})")
            continue
        mark = "" if r.confidence >= SURE else "REVIEW "
        lines.append(f"      # {mark}confidence {r.confidence:.2f}, across sources: {r.evidence}")
        spec = f"column: {q(r.column)}, to: {r.parent_source}.{_coll(r.parent)}.{q(r.parent_column)}"
        if r.identity:
            spec += f", identity: {r.identity}" + (f", match: {r.match}" if r.match != "exact" else "")
        lines.append(f"      - {{{spec}}}")
    return lines, notes


def _collection(s: SourceScan, t: Table, walk: Walk, cross: tuple[list[str], list[str]] = ([], [])) -> list[str]:
    name = re.sub(r"[^A-Za-z0-9_]", "_", t.name)
    out = [f"  {s.name}.{name}:"]
    if name != t.name:
        out.append(f"    table: {q(t.name)}")
    for note in walk.notes.get(t.name, []) + cross[1]:
        out.append(f"    # REVIEW: {note}")
    pk = list(t.primary_key)
    if not pk:
        real = {c.name.lower(): c.name for c in t.columns}
        uniq = next((list(u) for u in t.unique if u and all(c in real for c in u)), None)
        pk = [real[c] for c in uniq] if uniq else [c.name for c in t.columns]
        out.append("    # REVIEW: no primary key: rows are told apart by " + ", ".join(pk))
    if not all(IDENT.match(c) for c in pk):
        return [
            f"  # REVIEW: {s.name}.{name} holds personal data, but its key columns have names the data map "
            "cannot write (letters, digits and _ only); map it by hand, e.g. through a view"
        ]
    out.append(f"    primary_key: [{', '.join(q(c) for c in pk)}]")
    if t.name not in walk.reached:
        out.append(
            "    # REVIEW: holds personal data but no identity or reference reaches it: `datamap check` and "
            "`datamap coverage` will say so; add a reference"
        )
    out.extend(identity_lines(candidates(s, t.name)))
    refs = [r for r in walk.refs.get(t.name, []) if IDENT.match(r[0]) and IDENT.match(r[2])]
    if refs or cross[0]:
        out.append("    references:")
        for col, parent, pcol, r in refs:
            mark = "" if r.confidence >= SURE else "REVIEW "
            out.append(f"      # {mark}confidence {r.confidence:.2f}: {r.evidence}")
            out.append(f"      - {{column: {q(col)}, to: {s.name}.{_coll(parent)}.{q(pcol)}}}")
        out.extend(cross[0])
    fields, exclude = _fields(s, t)
    if fields:
        out.append("    fields:")
        out.extend(fields)
    if exclude:
        out.append(f"    exclude: [{', '.join(q(c) for c in exclude)}]  # credentials: never exported")
    out.append("    processing:")
    out.append('      purpose: "REVIEW: why this data is processed"')
    out.append('      legal_basis: "REVIEW: the Art. 6(1) GDPR basis"')
    out.append('      retention: "REVIEW: how long it is kept"')
    return out


def identity_lines(found: list[Candidate]) -> list[str]:
    """The `identities:` block of a collection (sure candidates; several columns of a kind as a list) and
    a `REVIEW` comment for each unsure one."""
    out: list[str] = []
    usable = [c for c in found if IDENT.match(c.column)]
    sure_ones = [c for c in usable if c.certain]
    if sure_ones:
        out.append("    identities:")
    for kind in KINDS:
        cols = [c for c in sure_ones if c.kind == kind]
        if not cols:
            continue
        if kind != "email":
            out.extend(f"      # {kind} ({c.confidence:.2f}): {c.evidence}" for c in cols)
        items = [f"{{column: {q(c.column)}, match: {c.match}}}" for c in cols]
        out.append(f"      {kind}: {items[0] if len(items) == 1 else '[' + ', '.join(items) + ']'}")
    for c in usable:
        if not c.certain:
            out.append(
                f"    # REVIEW: identity candidate {c.kind} {c.column} ({c.confidence:.2f}): {c.evidence}; to use it, "
                f"add `{c.kind}: {{column: {c.column}, match: {c.match}}}` under `identities`"
            )
    return out


def declared_kinds(scans: list[SourceScan]) -> list[str]:
    """The identity kinds some collection of the draft uses (e-mail always: the faces ask for it)."""
    used = {c.kind for s in scans for t in s.tables for c in sure(s, t.name) if IDENT.match(c.column)}
    return [k for k in KINDS if k == "email" or k in used]


def _coll(table: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", table)


def _fields(s: SourceScan, t: Table) -> tuple[list[str], list[str]]:
    out: list[str] = []
    exclude: list[str] = []
    for col_name, f in s.personal_columns(t.name):
        col = t.column(col_name)
        if col is None:
            continue
        if f.category == d.CREDENTIALS:
            if col_name not in t.primary_key and IDENT.match(col_name):
                exclude.append(col_name)
            continue
        erase, replacement, note = proposal(f, col, col_name in t.primary_key)
        mark = "" if (f.certain or f.category == d.UNIQUE_ID) and note is None else "REVIEW "
        why = f"{f.evidence}" + (f"; {note}" if note else "")
        out.append(f"      # {mark}{f.category} ({f.confidence:.2f}): {why}")
        spec = f"categories: [{f.category}], erase: {q(erase) if erase != 'null' else json.dumps('null')}"
        if replacement is not None:
            spec += f", replacement: {q(replacement)}"
        out.append(f"      {q(col_name)}: {{{spec}}}")
    return out, exclude
