"""The in-memory adapter of the connector port: the fake that engine tests and the contract suite use.

Tables are lists of dict rows with a declared key, column types and indexes. Reads, erasure and
description follow the SQL adapter: `lower_trim` compares `lower(trim(column))` (spaces trimmed, as SQL's
TRIM does) with the value; a null matches nothing; statements carry at most `chunk` values and a row is
returned once per read; erasure is all or nothing. `down = True` makes every call fail as an outage would.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from dsar.connectors.base import (
    Before,
    Capabilities,
    Change,
    ColumnSpec,
    Condition,
    Index,
    NoSuchTable,
    Read,
    Row,
    TableSpec,
    groups,
    once,
    unavailable,
)

_SCHEMAS: dict[type, dict[str, Any]] = {
    bool: {"type": "boolean"},
    int: {"type": "integer"},
    float: {"type": "number"},
    Decimal: {"type": "string", "format": "decimal", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"},
    datetime: {"type": "string", "format": "date-time"},
    date: {"type": "string", "format": "date"},
    time: {"type": "string", "format": "time"},
    bytes: {"type": "string", "contentEncoding": "base64"},
    str: {"type": "string"},
}


@dataclass
class MemoryTable:
    """A table: `columns` maps each column, in order, to the Python type of its values."""

    key: Sequence[str]
    columns: Mapping[str, type]
    rows: list[dict[str, Any]] = field(default_factory=list)
    indexes: Sequence[Index] = ()  # besides the key, e.g. [("customer_id",), ("lower(trim(email))",)]
    not_null: frozenset[str] = frozenset()  # columns that refuse nulls (the key's too)
    lengths: Mapping[str, int] = field(default_factory=dict)  # longest text of a column


def _schema(type_: type, nullable: bool) -> dict[str, Any]:
    schema = dict(_SCHEMAS.get(type_, {"type": "string"}))
    if nullable:
        schema["type"] = [schema["type"], "null"]
    return schema


def _matches(value: Any, c: Condition, wanted: set[Any] | None) -> bool:
    if value is None:
        return False
    if c.how == "lower_trim":
        return isinstance(value, str) and value.strip(" ").lower() == c.values[0]
    if c.how == "equal":
        return bool(value == c.values[0])
    return wanted is not None and value in wanted


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


class MemoryConnector:
    """One source of in-memory tables. Safe to share between threads."""

    kind = "memory"
    capabilities = Capabilities(erase=True, explain=True, rectify=True)

    def __init__(self, name: str, tables: Mapping[str, MemoryTable]) -> None:
        self.name = name
        self.tables = dict(tables)
        self.down = False
        self._lock = threading.RLock()
        self._closed = False

    def _check(self) -> None:
        if self._closed:
            raise unavailable(self.name, RuntimeError("the connector is closed"))
        if self.down:
            raise unavailable(self.name, ConnectionError("the source is down"))

    def _table(self, name: str) -> MemoryTable:
        self._check()
        table = self.tables.get(name)
        if table is None:
            raise NoSuchTable(self.name, f"The table {name!r} is not in the data source '{self.name}'.")
        return table

    def ping(self) -> None:
        self._check()

    def describe(self, table: str) -> TableSpec:
        t = self._table(table)
        cols = []
        for name, type_ in t.columns.items():
            key = name in t.key
            nullable = not key and name not in t.not_null
            cols.append(
                ColumnSpec(
                    name=name,
                    schema=_schema(type_, nullable),
                    nullable=nullable,
                    primary_key=key,
                    length=t.lengths.get(name),
                    type_name=type_.__name__,
                    temporal=issubclass(type_, date | time),
                )
            )
        return TableSpec(table, tuple(cols))

    def indexes(self, table: str) -> list[Index]:
        t = self._table(table)
        return [tuple(c.lower() for c in t.key)] + [tuple(c.lower() for c in ix) for ix in t.indexes]

    def read(self, read: Read) -> Iterator[list[Row]]:
        t = self._table(read.table)
        for c in [*read.columns, *(c.column for c in read.conditions)]:
            if c not in t.columns:
                raise KeyError(c)  # as the SQL adapter: a column the table lacks is a bug, not an outage
        parts, repeats = groups(read)
        batches = self._read(t, read, parts)
        if repeats:
            return once(batches, [list(read.columns).index(c) for c in read.key])
        return batches

    def _read(self, t: MemoryTable, read: Read, parts: list[list[Condition]]) -> Iterator[list[Row]]:
        since = (read.since[0], _utc(read.since[1])) if read.since else None
        for part in parts:
            self._check()
            sets = [set(c.values) if c.how == "in" else None for c in part]
            with self._lock:
                found = [
                    tuple(row.get(c) for c in read.columns)
                    for row in t.rows
                    if any(_matches(row.get(c.column), c, s) for c, s in zip(part, sets, strict=True))
                    and (since is None or (row.get(since[0]) is not None and _utc(row[since[0]]) >= since[1]))
                ]
            at = [list(read.columns).index(c) for c in read.key]
            found.sort(key=lambda r: tuple(r[i] for i in at))
            for i in range(0, len(found), read.batch):
                yield found[i : i + read.batch]

    def explain(self, read: Read) -> str:
        self._table(read.table)
        conds = " OR ".join(_describe(c) for c in read.conditions)
        window = f" AND {read.since[0]} >= ?" if read.since else ""
        cols = ", ".join(read.columns)
        return f"SELECT {cols} FROM {read.table} WHERE {conds}{window} ORDER BY {', '.join(read.key)}"

    def erase(self, changes: Sequence[Change], *, chunk: int) -> None:
        with self._lock:
            staged = {c.table: [dict(r) for r in self._table(c.table).rows] for c in changes}
            for c in changes:
                t = self._table(c.table)
                for col in c.values or {}:
                    if col not in t.columns:
                        raise unavailable(self.name, KeyError(f"no column {col!r} in {c.table!r}"))
                    if c.values is not None and c.values[col] is None and (col in t.not_null or col in t.key):
                        raise unavailable(self.name, ValueError(f"{c.table}.{col} cannot be null"))
                keys = set(c.keys)
                rows = staged[c.table]
                if c.values is None:
                    staged[c.table] = [r for r in rows if tuple(r.get(k) for k in c.key) not in keys]
                else:
                    for r in rows:
                        if tuple(r.get(k) for k in c.key) in keys:
                            r.update(c.values)
            self._check()
            for name, rows in staged.items():  # the commit: every change at once
                self.tables[name].rows = rows

    def rectify(self, changes: Sequence[Change]) -> list[list[Before]]:
        with self._lock:
            staged = {c.table: [dict(r) for r in self._table(c.table).rows] for c in changes}
            out: list[list[Before]] = []
            for c in changes:
                t = self._table(c.table)
                values = dict(c.values or {})
                for col, value in values.items():
                    if col not in t.columns:
                        raise unavailable(self.name, KeyError(f"no column {col!r} in {c.table!r}"))
                    if value is None and (col in t.not_null or col in t.key):
                        raise unavailable(self.name, ValueError(f"{c.table}.{col} cannot be null"))
                    if value is not None and not isinstance(value, t.columns[col]):
                        raise unavailable(self.name, TypeError(f"{c.table}.{col} holds {t.columns[col].__name__}"))
                    if isinstance(value, str) and col in t.lengths and len(value) > t.lengths[col]:
                        raise unavailable(self.name, ValueError(f"{c.table}.{col} is too long"))
                keys = set(c.keys)
                found = []
                for r in staged[c.table]:
                    key = tuple(r.get(k) for k in c.key)
                    if key in keys:
                        found.append(Before(key, {col: r.get(col) for col in values}))
                        r.update(values)
                out.append(sorted(found, key=lambda b: b.key))
            self._check()
            for name, rows in staged.items():  # the commit
                self.tables[name].rows = rows
            return out

    def explain_erase(self, changes: Sequence[Change], *, chunk: int) -> Iterator[str]:
        for c in changes:
            self._table(c.table)
            for i in range(0, len(c.keys), chunk):
                where = f"({', '.join(c.key)}) IN {len(c.keys[i : i + chunk])} key(s)"
                if c.values is None:
                    yield f"DELETE FROM {c.table} WHERE {where}"
                else:
                    yield f"UPDATE {c.table} SET {', '.join(f'{k} = ?' for k in c.values)} WHERE {where}"

    def close(self) -> None:
        self._closed = True


def _describe(c: Condition) -> str:
    if c.how == "lower_trim":
        return f"lower(trim({c.column})) = ?"
    if c.how == "equal":
        return f"{c.column} = ?"
    return f"{c.column} IN ({', '.join('?' * len(c.values))})"
