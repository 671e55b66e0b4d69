"""SQL data sources through SQLAlchemy Core: reflection, bound parameters, streamed results."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ColumnElement,
    Connection,
    Date,
    DateTime,
    Engine,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    Select,
    Table,
    Time,
    create_engine,
    inspect,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.types import TypeEngine

_DRIVER_HINTS = {"postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql"}
_STATEMENTS = 4096  # statements kept per source (by shape); past that the cache starts afresh


def json_schema_for(type_: TypeEngine[Any], nullable: bool) -> dict[str, Any]:
    """The JSON Schema of one exported value of a column of this SQL type."""
    schema: dict[str, Any]
    if isinstance(type_, Boolean):
        schema = {"type": "boolean"}
    elif isinstance(type_, Integer):
        schema = {"type": "integer"}
    elif isinstance(type_, Float):
        schema = {"type": "number"}
    elif isinstance(type_, Numeric):
        schema = {"type": "string", "format": "decimal", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}
    elif isinstance(type_, DateTime):
        schema = {"type": "string", "format": "date-time"}
    elif isinstance(type_, Date):
        schema = {"type": "string", "format": "date"}
    elif isinstance(type_, Time):
        schema = {"type": "string", "format": "time"}
    elif isinstance(type_, LargeBinary):
        schema = {"type": "string", "contentEncoding": "base64"}
    elif isinstance(type_, JSON):
        schema = {}
    else:
        schema = {"type": "string"}
    if nullable and "type" in schema:
        schema["type"] = [schema["type"], "null"]
    return schema


class SqlSource:
    """One data source: an engine with a small pool, and the tables reflected once."""

    def __init__(self, name: str, url: str, *, pool_size: int = 5) -> None:
        self.name = name
        backend = make_url(url).get_backend_name()
        kwargs: dict[str, Any] = {"pool_pre_ping": False}
        if backend == "sqlite":
            kwargs["connect_args"] = {"check_same_thread": False}
        else:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size)
        try:
            self.engine: Engine = create_engine(url, **kwargs)
        except ModuleNotFoundError as exc:
            extra = _DRIVER_HINTS.get(backend, backend)
            raise RuntimeError(f'source {name!r} needs a database driver: pip install "dsar[{extra}]"') from exc
        self.dialect = self.engine.dialect.name
        self._meta = MetaData()
        self._lock = threading.Lock()
        self._statements: dict[Hashable, tuple[Select[Any], Select[Any]]] = {}
        self._statements_lock = threading.Lock()

    def table(self, name: str) -> Table:
        """The table's columns (reflected once); indexes are not needed to query it."""
        with self._lock:
            if name in self._meta.tables:
                return self._meta.tables[name]
            insp = inspect(self.engine)
            cols = insp.get_columns(name)
            pk = set(insp.get_pk_constraint(name).get("constrained_columns") or [])
            return Table(
                name,
                self._meta,
                *(
                    Column(c["name"], c["type"], nullable=bool(c.get("nullable", True)), primary_key=c["name"] in pk)
                    for c in cols
                ),
            )

    def indexes(self, table: str) -> list[tuple[str, ...]]:
        """Leading column lists of every index, primary key and unique constraint of a table.

        Expression index elements appear as their SQL text, lower-cased without spaces.
        """
        insp = inspect(self.engine)
        out: list[tuple[str, ...]] = []
        pk = insp.get_pk_constraint(table).get("constrained_columns") or []
        if pk:
            out.append(tuple(c.lower() for c in pk))
        if self.dialect == "sqlite":  # SQLAlchemy warns on (and skips) SQLite expression indexes
            return out + self._sqlite_indexes(table)
        for uc in insp.get_unique_constraints(table):
            out.append(tuple(_norm_sql(c) for c in uc["column_names"]))
        for ix in insp.get_indexes(table):
            cols = list(ix.get("column_names") or [])
            exprs = list(ix.get("expressions") or [])
            names = [c if c is not None else (exprs[i] if i < len(exprs) else "") for i, c in enumerate(cols)]
            if not names and exprs:
                names = exprs
            out.append(tuple(_norm_sql(n) for n in names))
        return out

    def _sqlite_indexes(self, table: str) -> list[tuple[str, ...]]:
        """SQLite indexes read from the catalogue: UNIQUE constraints' automatic indexes and every
        CREATE INDEX (plain or expression) parsed from its SQL text."""
        quote = self.engine.dialect.identifier_preparer.quote
        out: list[tuple[str, ...]] = []
        with self.engine.connect() as conn:
            for ix in conn.exec_driver_sql(f"PRAGMA index_list({quote(table)})").mappings().all():
                if ix["origin"] == "c":  # created by CREATE INDEX: parsed from its SQL below
                    continue
                info = conn.exec_driver_sql(f"PRAGMA index_info({quote(ix['name'])})").mappings().all()
                out.append(tuple(str(r["name"]).lower() for r in sorted(info, key=lambda r: r["seqno"])))
            rows = conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
                (table,),
            ).all()
        for (sql,) in rows:
            cols = _index_columns(str(sql))
            if cols:
                out.append(tuple(_norm_sql(part) for part in _split_top(cols)))
        return out

    def stream(
        self,
        columns: Sequence[str],
        table: Table,
        where: ColumnElement[bool] | Callable[[], ColumnElement[bool]],
        order_by: Sequence[str],
        *,
        params: Mapping[str, Any] | None = None,
        shape: Hashable | None = None,
        batch: int = 2000,
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Rows in batches, ordered by `order_by` (columns among `columns`).

        Most subjects have few rows per collection, and a server-side cursor costs round trips (BEGIN,
        DECLARE, FETCH, CLOSE, ROLLBACK): first one plain query for at most `batch + 1` rows, with no ORDER
        BY so the database stops early, sorted here. Only when that finds more than `batch` rows is the
        query run again through a server-side cursor (where the driver has one), streamed in its order.
        `where` may have bound parameters (`params`); with a `shape` (a key that names the statement's
        columns and conditions, not their values) the statements are built once and kept for every later
        read of that shape, and `where` may then be a function that builds the condition.
        """
        first, ordered = self._selects(columns, table, where, order_by, batch, shape)
        with self._probe_connection() as conn:
            rows = [tuple(r) for r in conn.execute(first, params)]
        if len(rows) <= batch:
            if rows:
                at = [columns.index(c) for c in order_by]
                rows.sort(key=lambda r: tuple(r[i] for i in at))
                yield rows
            return
        del rows
        with self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=batch).execute(ordered, params)
            for part in result.partitions(batch):
                yield [tuple(r) for r in part]

    def _selects(
        self,
        columns: Sequence[str],
        table: Table,
        where: ColumnElement[bool] | Callable[[], ColumnElement[bool]],
        order_by: Sequence[str],
        batch: int,
        shape: Hashable | None,
    ) -> tuple[Select[Any], Select[Any]]:
        key = (shape, tuple(columns), tuple(order_by), batch)
        if shape is not None and (hit := self._statements.get(key)) is not None:
            return hit
        cond = where() if callable(where) else where
        cols = [table.c[c] for c in columns]
        made = (
            select(*cols).where(cond).limit(batch + 1),
            select(*cols).where(cond).order_by(*(table.c[c] for c in order_by)),
        )
        if shape is not None:
            with self._statements_lock:
                if len(self._statements) >= _STATEMENTS:  # bounded: shapes are few (per collection and condition set)
                    self._statements.clear()
                self._statements[key] = made
        return made

    def _probe_connection(self) -> Connection:
        """A connection for one read: on PostgreSQL in autocommit (no BEGIN and ROLLBACK round trips;
        psycopg switches it locally); elsewhere as it is (MySQL drivers would send SET autocommit)."""
        conn = self.engine.connect()
        if self.dialect == "postgresql":
            return conn.execution_options(isolation_level="AUTOCOMMIT")
        return conn

    def explain(self, table: Table, columns: Sequence[str], where: ColumnElement[bool], order_by: Sequence[str]) -> str:
        stmt = select(*(table.c[c] for c in columns)).where(where).order_by(*(table.c[c] for c in order_by))
        return str(stmt.compile(self.engine, compile_kwargs={"render_postcompile": True}))

    def dispose(self) -> None:
        self.engine.dispose()


def _norm_sql(text: str) -> str:
    t = "".join(text.lower().split()).replace('"', "").replace("`", "")
    return t.replace("trim(bothfrom", "trim(").replace("::text", "")


def _index_columns(sql: str) -> str:
    """The text between the parentheses after `ON table` of a CREATE INDEX statement."""
    m = re.search(r"\bon\b[^(]*\(", sql, re.IGNORECASE)
    if m is None:
        return ""
    depth, start = 1, m.end()
    for i in range(start, len(sql)):
        if sql[i] == "(":
            depth += 1
        elif sql[i] == ")":
            depth -= 1
            if depth == 0:
                return sql[start:i]
    return ""


def _split_top(text: str) -> list[str]:
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]
