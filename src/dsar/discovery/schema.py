"""What a SQL source holds: tables, columns, keys, foreign keys and indexes, and a bounded sample of rows.

The catalogue is read with SQLAlchemy's bulk inspector calls (one query per kind of object for the whole
schema, not one per table). Samples never scan a large table: PostgreSQL reads `TABLESAMPLE SYSTEM`
pages sized from the planner's row estimate (falling back to the first rows), SQLite and MariaDB read
the first N rows with `LIMIT` and no `ORDER BY`, so the database stops after N rows. Every statement
sent is told to `log` (its text with placeholders, never the values), for `--verbose`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Date, DateTime, Engine, Integer, String, Text, Time, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.types import TypeEngine

from dsar.connectors.base import unavailable
from dsar.connectors.sql_catalog import read_indexes
from dsar.errors import SourceError

Log = Callable[[str], None]
_DRIVER_HINTS = {"postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql"}


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type_name: str
    kind: str  # "int", "text", "temporal", "other"
    nullable: bool
    length: int | None


@dataclass(frozen=True, slots=True)
class ForeignKey:
    columns: tuple[str, ...]
    parent: str
    parent_columns: tuple[str, ...]


@dataclass
class Table:
    name: str
    columns: list[Column]
    primary_key: list[str]
    foreign_keys: list[ForeignKey]
    indexes: list[tuple[str, ...]]
    unique: list[tuple[str, ...]]
    estimate: int | None = None  # rows, from the catalogue's statistics (never counted)
    sample: list[dict[str, Any]] = field(default_factory=list)

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    def values(self, column: str) -> list[Any]:
        return [row[column] for row in self.sample if row.get(column) is not None]

    def indexed(self, column: str) -> bool:
        return any(ix and ix[0] == column.lower() for ix in self.indexes)

    def single_unique(self, column: str) -> bool:
        """The column alone is the primary key or carries a unique constraint or index."""
        return self.primary_key == [column] or any(u == (column.lower(),) for u in self.unique)


def kind_of(type_: TypeEngine[Any]) -> str:
    if isinstance(type_, Integer):
        return "int"
    if isinstance(type_, String | Text):
        return "text"
    if isinstance(type_, Date | DateTime | Time):
        return "temporal"
    return "other"


class SourceReader:
    """One source opened for discovery; `close()` releases its connections."""

    def __init__(self, name: str, url: str, log: Log | None = None) -> None:
        self.name = name
        self.log = log or (lambda _sql: None)
        try:
            parsed = make_url(url)
            backend = parsed.get_backend_name()
            file = parsed.database if backend == "sqlite" and "mode=memory" not in url else None
            if file not in (None, "", ":memory:") and not os.path.exists(str(file)):
                raise SourceError(name, f"source {name}: the SQLite file {parsed.database} does not exist")
            self.engine: Engine = create_engine(url, pool_size=2) if backend != "sqlite" else create_engine(url)
        except ModuleNotFoundError as exc:
            extra = _DRIVER_HINTS.get(backend, backend)
            raise RuntimeError(f'source {name!r} needs a database driver: pip install "dsar[{extra}]"') from exc
        except (SQLAlchemyError, ValueError) as exc:
            raise unavailable(name, exc) from exc
        self.dialect = self.engine.dialect.name
        if log is not None:  # every statement sent, the catalogue's included, as the driver gets it (no values)
            event.listen(self.engine, "before_cursor_execute", self._show)

    def _show(self, _conn: object, _cursor: object, statement: str, *_args: object) -> None:
        self.log(statement)

    def close(self) -> None:
        self.engine.dispose()

    def tables(self) -> list[Table]:
        """Every table of the default schema with its columns, keys, foreign keys and indexes."""
        try:
            return self._tables()
        except SQLAlchemyError as exc:
            raise unavailable(self.name, exc) from exc

    def _tables(self) -> list[Table]:
        insp = inspect(self.engine)
        names = sorted(insp.get_table_names())
        if not names:
            return []
        cols = {k[1]: v for k, v in insp.get_multi_columns().items()}
        pks: dict[str, Any] = {k[1]: v for k, v in insp.get_multi_pk_constraint().items()}
        fks = {k[1]: v for k, v in insp.get_multi_foreign_keys().items()}
        if self.dialect == "sqlite":
            idx = {n: read_indexes(self.engine, n) for n in names}
            uniq = {n: self._sqlite_unique(n) for n in names}
        else:
            uq = {k[1]: v for k, v in insp.get_multi_unique_constraints().items()}
            ixs = {k[1]: v for k, v in insp.get_multi_indexes().items()}
            idx, uniq = {}, {}
            for n in names:
                pk_cols = tuple(c.lower() for c in _pk(pks, n))
                u = [tuple(c.lower() for c in x["column_names"]) for x in uq.get(n, [])]
                u += [tuple(str(c).lower() for c in x["column_names"]) for x in ixs.get(n, []) if x.get("unique")]
                i = [tuple(str(c).lower() for c in x["column_names"] if c is not None) for x in ixs.get(n, [])]
                idx[n] = ([pk_cols] if pk_cols else []) + u + i
                uniq[n] = u
        estimates = self._estimates(names)
        out = []
        for n in names:
            columns = [
                Column(
                    c["name"],
                    _type_name(c["type"]),
                    kind_of(c["type"]),
                    bool(c.get("nullable", True)),
                    getattr(c["type"], "length", None),
                )
                for c in cols.get(n, [])
            ]
            pk = _pk(pks, n)
            foreign = [
                ForeignKey(tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                for f in fks.get(n, [])
                if f.get("referred_table") and f.get("constrained_columns")
            ]
            out.append(Table(n, columns, pk, foreign, idx.get(n, []), uniq.get(n, []), estimates.get(n)))
        return out

    def _sqlite_unique(self, table: str) -> list[tuple[str, ...]]:
        quote = self.engine.dialect.identifier_preparer.quote
        out = []
        with self.engine.connect() as conn:
            for ix in conn.exec_driver_sql(f"PRAGMA index_list({quote(table)})").mappings().all():
                if not ix["unique"]:
                    continue
                info = conn.exec_driver_sql(f"PRAGMA index_info({quote(ix['name'])})").mappings().all()
                out.append(tuple(str(r["name"]).lower() for r in sorted(info, key=lambda r: r["seqno"])))
        return out

    def _estimates(self, names: list[str]) -> dict[str, int]:
        """Row counts as the planner's statistics say (no table is counted)."""
        if self.dialect == "postgresql":
            sql = (
                "SELECT c.relname, c.reltuples::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')"
            )
        elif self.dialect in ("mysql", "mariadb"):
            sql = "SELECT table_name, table_rows FROM information_schema.tables WHERE table_schema = DATABASE()"
        else:
            return {}
        with self.engine.connect() as conn:
            return {str(r[0]): int(r[1]) for r in conn.execute(text(sql)) if r[1] is not None and int(r[1]) >= 0}

    def sample(self, table: Table, n: int) -> None:
        """Fill `table.sample` with at most `n` rows, without reading the whole table."""
        if n <= 0 or not table.columns:
            return
        try:
            table.sample = self._sample(table, n)
        except SQLAlchemyError as exc:
            raise unavailable(self.name, exc) from exc

    def _sample(self, table: Table, n: int) -> list[dict[str, Any]]:
        q = self.engine.dialect.identifier_preparer.quote
        cols = ", ".join(q(c.name) for c in table.columns)
        plain = f"SELECT {cols} FROM {q(table.name)} LIMIT {int(n)}"
        with self.engine.connect() as conn:
            if self.dialect == "postgresql" and table.estimate and table.estimate > 20 * n:
                # SYSTEM sampling reads whole pages at random: ask for ~4n rows' worth, keep n.
                percent = min(100.0, max(0.001, 400.0 * n / table.estimate))
                sql = f"SELECT {cols} FROM {q(table.name)} TABLESAMPLE SYSTEM ({percent:.4f}) LIMIT {int(n)}"
                rows = [dict(r._mapping) for r in conn.execute(text(sql))]
                if len(rows) >= min(n, 10):
                    return rows
            return [dict(r._mapping) for r in conn.execute(text(plain))]

    def present(self, table: Table, column: str, values: Sequence[Any]) -> int:
        """How many of `values` the column holds: an indexed lookup (`IN`), asked only of indexed columns."""
        if not values:
            return 0
        q = self.engine.dialect.identifier_preparer.quote
        params = {f"v{i}": v for i, v in enumerate(values)}
        marks = ", ".join(f":v{i}" for i in range(len(values)))
        sql = f"SELECT DISTINCT {q(column)} FROM {q(table.name)} WHERE {q(column)} IN ({marks})"
        try:
            with self.engine.connect() as conn:
                return len(conn.execute(text(sql), params).all())
        except SQLAlchemyError:
            return 0  # e.g. values of another type than the column's: no overlap


def _type_name(type_: TypeEngine[Any]) -> str:
    try:
        return str(type_)
    except SQLAlchemyError:
        return type(type_).__name__


def _pk(pks: dict[str, Any], table: str) -> list[str]:
    found = pks.get(table)
    return list(found.get("constrained_columns") or []) if found else []
