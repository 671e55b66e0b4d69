"""Matching data points: a person's answers compared with what the data map finds about their e-mail.

A question names a field of a collection (`source.collection.field`). The values the person may give are read
from that collection: directly when it holds the e-mail itself, or one reference away from a collection that
does (an order's number through the customer who placed it). Answers compare trimmed and case-folded.
"""

from __future__ import annotations

from collections.abc import Callable

from dsar.connectors.base import Condition, Read
from dsar.datamap.identities import lookup_values
from dsar.datamap.model import DataMap
from dsar.engine.sources import Sources
from dsar.verification.settings import DataPoint

Lookup = Callable[[str, DataPoint], set[str]]  # (e-mail, question) -> the answers that count as right


def normalize(answer: object) -> str:
    return " ".join(str(answer).split()).casefold()


def _identity(dm: DataMap, key: str, email: str) -> list[Condition]:
    """The collection's e-mail identity columns compared with the address (in each of its normal forms)."""
    values = lookup_values("email", email)
    return [
        Condition(m.column, "lower_trim" if m.match == "lower_trim" else "equal", [v])
        for name, m in dm.collections[key].identity_matches()
        if dm.identities.get(name) == "email"
        for v in values
    ]


def datamap_lookup(dm: Callable[[], DataMap], sources: Callable[[], Sources]) -> Lookup:
    def lookup(email: str, point: DataPoint) -> set[str]:
        datamap, src = dm(), sources()
        key = f"{point.source}.{point.collection}"
        col = datamap.collections.get(key)
        if col is None:
            return set()
        table = datamap.table_of(key)
        conditions = _identity(datamap, key, email)
        if not conditions:  # one reference away from a collection that holds the e-mail
            for ref in col.references:
                parent = datamap.collections.get(ref.parent)
                if parent is None or datamap.source_of(ref.parent) != point.source or not parent.identities:
                    continue
                keys = _values(
                    src,
                    ref.parent,
                    datamap.table_of(ref.parent),
                    ref.parent_column,
                    _identity(datamap, ref.parent, email),
                    datamap,
                )
                if keys:
                    conditions.append(Condition(ref.column, "in", sorted(keys, key=str)))
        if not conditions:
            return set()
        return {normalize(v) for v in _values(src, key, table, point.field, conditions, datamap) if v is not None}

    return lookup


def _values(src: Sources, key: str, table: str, column: str, conditions: list[Condition], dm: DataMap) -> set[object]:
    pk = dm.collections[key].primary_key
    columns = [column, *[c for c in pk if c != column]]
    out: set[object] = set()
    for batch in src.get(dm.source_of(key)).read(Read(table, columns, pk, conditions)):
        out.update(row[0] for row in batch)
    return out
