"""The connector port: all the engine asks of a data source.

A connector reads the rows of a collection (a table) that match sets of key values, streamed in
batches; erases rows by primary key inside one transaction; describes tables, columns and indexes
for `dsar datamap check`; and closes. Adapters: `sql` (SQLite, PostgreSQL, MariaDB through SQLAlchemy
Core), `http` (a web API declared in the data map) and `memory` (the fake). `registry.connect` picks one
by the source's URL scheme, `registry.connect_source` by the source's declaration.

Outages surface as `SourceError` (made by `unavailable`, with the driver's error as its cause and no
personal data in its message); the engine retries them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from dsar.errors import SourceError

How = Literal["equal", "lower_trim", "in"]
Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Condition:
    """One way a row belongs to the subject.

    equal: `column = values[0]`; lower_trim: `lower(trim(column)) = values[0]` (the value is normalised
    already); in: `column IN values`. A null never matches.
    """

    column: str
    how: How
    values: Sequence[Any]


@dataclass(frozen=True, slots=True)
class Read:
    """Rows of `table` matching any of `conditions` (and, with `since`, `column >= bound`).

    `columns` come back in this order; `key` (among `columns`) identifies a row and orders the rows of
    each statement; batches hold at most `batch` rows. Statements carry at most `chunk` values: more
    values are read in several statements and a row matching several of them is returned once.
    """

    table: str
    columns: Sequence[str]
    key: Sequence[str]
    conditions: Sequence[Condition]
    since: tuple[str, datetime] | None = None  # (column, bound); a naive bound is UTC
    chunk: int = 500
    batch: int = 2000
    retrieval: str = ""  # the walk this read serves; an adapter may keep per-walk state (an API's request budget)


@dataclass(frozen=True, slots=True)
class Change:
    """Rows of `table` whose `key` columns hold one of `keys`: deleted (`values` None) or masked (set to `values`)."""

    table: str
    key: Sequence[str]
    keys: Sequence[Row]
    values: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    name: str
    schema: dict[str, Any]  # JSON Schema of one exported value, e.g. {"type": ["string", "null"]}
    nullable: bool = True
    primary_key: bool = False
    length: int | None = None  # longest text the column holds, when it has a limit
    type_name: str = ""  # as the source names it, e.g. "VARCHAR(254)"
    temporal: bool = False  # holds dates or times


@dataclass(frozen=True, slots=True)
class TableSpec:
    name: str
    columns: tuple[ColumnSpec, ...]

    def column(self, name: str) -> ColumnSpec | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


@dataclass(frozen=True, slots=True)
class Capabilities:
    erase: bool = True  # can delete and mask rows
    explain: bool = True  # can show the statements it would run
    scan: bool = True  # can find rows by any column; else only by the columns `indexes` lists (an API's filters)
    transactional: bool = True  # `erase` is all or nothing; else it goes row by row, each change idempotent
    rectify: bool = False  # can set new values and tell the old ones (`Rectifier`)


@dataclass(frozen=True, slots=True)
class Before:
    """A row a rectification changed: its key and the values its changed columns held before."""

    key: Row
    values: dict[str, Any]


class Rectifier(Protocol):
    """The optional part of the port that rectification needs (`capabilities.rectify`)."""

    def rectify(self, changes: Sequence[Change]) -> list[list[Before]]:
        """Set each change's `values` on its rows, in one transaction (all or nothing), reading every row's old
        values in it first (locked where the database locks rows); per change, the rows found, in key order.
        A value the column refuses fails the whole transaction: nothing changes."""
        ...


Index = tuple[str, ...]  # leading columns, lower-cased; an expression as its text without spaces


class Connector(Protocol):
    """One data source. Safe to share between threads."""

    name: str
    kind: str  # "sqlite", "postgresql", "mysql", "memory", ...
    capabilities: Capabilities

    def ping(self) -> None:
        """Reach the source once; `SourceError` when it cannot be reached."""

    def describe(self, table: str) -> TableSpec:
        """The table's columns (read once and kept); `NoSuchTable` when it does not exist."""
        ...

    def indexes(self, table: str) -> list[Index]:
        """Leading column lists of every index, primary key and unique constraint of a table."""
        ...

    def read(self, read: Read) -> Iterator[list[Row]]:
        """The matching rows in batches, each batch in `read.key` order within its statement."""
        ...

    def explain(self, read: Read) -> str:
        """The statement of a read, its values shown as placeholders, for `dsar datamap check`."""
        ...

    def erase(self, changes: Sequence[Change], *, chunk: int) -> None:
        """Apply the changes in order, at most `chunk` keys per statement, in one transaction: all or nothing."""

    def explain_erase(self, changes: Sequence[Change], *, chunk: int) -> Iterator[str]:
        """The statements `erase` would run, one per line, for a preview; nothing is executed."""
        ...

    def close(self) -> None:
        """Release connections; a closed connector answers nothing more. Closing twice is harmless."""


class NoSuchTable(SourceError):
    """The table a collection names is not in its source."""


def unavailable(source: str, exc: BaseException) -> SourceError:
    """The error an adapter raises when its source fails: names the source and the error's type only
    (a driver's message may quote personal data); the error itself is the cause."""
    err = SourceError(source, f"The data source '{source}' failed ({type(exc).__name__}).")
    err.__cause__ = exc
    return err


def root_cause(exc: BaseException) -> BaseException:
    """The driver's error behind an adapter's `SourceError`, else the error itself."""
    if isinstance(exc, SourceError) and exc.__cause__ is not None:
        return exc.__cause__
    return exc


def groups(read: Read) -> tuple[list[list[Condition]], bool]:
    """The statements of a read, as condition lists (each OR-ed), and whether rows may repeat across them.

    Up to `chunk` values in all: one statement with every condition. More: one statement per condition and
    slice of `chunk` values. A row then matches one slice of a condition at most, so only several
    conditions can return it twice.
    """
    chunk = read.chunk
    if sum(len(c.values) for c in read.conditions) <= chunk:
        return [list(read.conditions)], False
    out = [
        [Condition(c.column, c.how, c.values[i : i + chunk])]
        for c in read.conditions
        for i in range(0, len(c.values), chunk)
    ]
    return out, len(read.conditions) > 1


def once(batches: Iterator[list[Row]], key_at: Sequence[int]) -> Iterator[list[Row]]:
    """The batches without rows whose key was seen in an earlier one."""
    seen: set[Row] = set()
    for batch in batches:
        kept = []
        for row in batch:
            pk = tuple(row[i] for i in key_at)
            if pk not in seen:
                seen.add(pk)
                kept.append(row)
        if kept:
            yield kept
