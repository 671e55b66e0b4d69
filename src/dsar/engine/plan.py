"""Plan a walk: from the identity columns through the references, in dependency order.

Collections form a graph (parent → child along each reference). Strongly connected groups
(cycles) become one unit that is read to a fixpoint; every other collection is read once, after
all its parents, with the union of the keys they found.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from dsar.datamap.model import DataMap


@dataclass(frozen=True)
class Match:
    """One way a row of a collection belongs to the subject."""

    kind: Literal["identity", "reference"]
    column: str
    identity: str | None = None  # of a reference: the identity its parent's values are normalised as
    mode: Literal["lower_trim", "exact"] = "exact"
    parent: str | None = None
    parent_column: str | None = None

    def describe(self) -> str:
        expr = f"lower(trim({self.column}))" if self.mode == "lower_trim" else self.column
        if self.kind == "identity":
            return f"{expr} = <{self.identity}>"
        if self.identity:  # values found in another collection, normalised as that identity
            return f"{expr} IN <{self.identity} of {self.parent}.{self.parent_column}>"
        return f"{self.column} IN <{self.parent}.{self.parent_column}>"


@dataclass
class Step:
    key: str
    source: str
    table: str
    primary_key: list[str]
    exclude: list[str]
    matches: list[Match]
    needed: set[str] = field(default_factory=set)  # columns whose values children need


@dataclass
class Unit:
    steps: list[Step]
    cyclic: bool
    after: set[int] = field(default_factory=set)  # indexes of units that must finish first


@dataclass
class Plan:
    units: list[Unit]
    unreachable: list[str]
    steps: dict[str, Step]

    def describe(self) -> Iterable[str]:
        for i, unit in enumerate(self.units):
            tag = " (cycle: read to a fixpoint)" if unit.cyclic else ""
            deps = ", ".join(str(d + 1) for d in sorted(unit.after)) or "none"
            for step in unit.steps:
                cond = " OR ".join(m.describe() for m in step.matches)
                yield f"{i + 1}. {step.key} (after: {deps}){tag}: WHERE {cond}"
        for key in self.unreachable:
            yield f"-  {key}: not reachable from any identity (add an identity or a reference)"


def build_plan(dm: DataMap) -> Plan:
    steps: dict[str, Step] = {}
    for key, coll in dm.collections.items():
        matches = [
            Match("identity", m.column, identity=ident, mode=m.match) for ident, m in coll.identity_matches()
        ] + [
            Match(
                "reference",
                r.column,
                identity=r.identity,
                mode=r.match,
                parent=r.parent,
                parent_column=r.parent_column,
            )
            for r in coll.references
        ]
        steps[key] = Step(key, dm.source_of(key), dm.table_of(key), list(coll.primary_key), list(coll.exclude), matches)
    children: dict[str, set[str]] = {k: set() for k in steps}
    for key, step in steps.items():
        for m in step.matches:
            if m.kind == "reference" and m.parent in steps and m.parent_column:
                children[m.parent].add(key)
                steps[m.parent].needed.add(m.parent_column)

    reachable: set[str] = set()
    frontier = [k for k, s in steps.items() if any(m.kind == "identity" for m in s.matches)]
    while frontier:
        k = frontier.pop()
        if k in reachable:
            continue
        reachable.add(k)
        frontier.extend(children[k] - reachable)

    comps = _tarjan(sorted(reachable), {k: sorted(children[k] & reachable) for k in reachable})
    comp_of = {k: i for i, comp in enumerate(comps) for k in comp}
    units: list[Unit] = []
    # Tarjan yields components in reverse topological order.
    order = list(reversed(range(len(comps))))
    index_of = {c: n for n, c in enumerate(order)}
    for c in order:
        members = sorted(comps[c])
        cyclic = len(members) > 1 or members[0] in children[members[0]]
        units.append(Unit([steps[k] for k in members], cyclic))
    for key in reachable:
        for m in steps[key].matches:
            if m.kind == "reference" and m.parent in reachable:
                pu, cu = index_of[comp_of[m.parent]], index_of[comp_of[key]]
                if pu != cu:
                    units[cu].after.add(pu)
    unreachable = sorted(set(steps) - reachable)
    return Plan(units, unreachable, steps)


def _tarjan(nodes: list[str], edges: dict[str, list[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0

    def visit(root: str) -> None:
        nonlocal counter
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(edges[nxt])))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                out.append(comp)

    for n in nodes:
        if n not in index:
            visit(n)
    return out
