"""The SQL adapter of the connector port: SQLite, PostgreSQL and MariaDB through SQLAlchemy Core.

Tables are reflected once; reads bind their values to statements built once per shape; erasure runs
one UPDATE or DELETE per chunk of keys in one transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from functools import partial
from typing import Any

from sqlalchemy import (
    JSON,
    BindParameter,
    Boolean,
    Column,
    ColumnElement,
    Connection,
    Date,
    DateTime,
    Delete,
    Engine,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    Select,
    String,
    Table,
    Time,
    Update,
    and_,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    inspect,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import NoSuchTableError, SQLAlchemyError
from sqlalchemy.types import TypeEngine

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
from dsar.connectors.sql_catalog import duckdb_columns, index_advice, read_indexes

_DRIVER_HINTS = {"postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql", "duckdb": "duckdb"}


def quote_every_identifier(engine: Engine) -> None:
    """DuckDB: quote every table and column name. Its dialect borrows PostgreSQL's list of reserved words, but
    DuckDB reserves more (`at` since 2.0 is in none of its lists), and a quoted name means the same to it."""
    if engine.dialect.name == "duckdb":
        setattr(engine.dialect.identifier_preparer, "_requires_quotes", lambda value: True)  # noqa: B010


_STATEMENTS = 4096  # statements kept per source (by shape); past that the cache starts afresh

# SQLite keeps a page cache per connection, 2 MiB by default, that lives as long as the connection. A source
# is read, not written, so nothing resets it: each pooled connection (one per reader thread) slowly cached up
# to 2 MiB of the file, and a long-running process grew by ~10 MB over 1,000 small retrievals
# (bench/soak.py; docs/performance.md, memory soak). A subject's lookup needs the index's upper pages; the
# rest is read once, and the operating system's file cache serves it again.
SQLITE_PAGE_CACHE_KIB = 256


def _small_page_cache(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA cache_size=-{SQLITE_PAGE_CACHE_KIB}")
    cur.close()


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


class SqlConnector:
    """One SQL source: an engine with a small pool, and the tables reflected once."""

    capabilities = Capabilities(erase=True, explain=True, rectify=True)

    def __init__(self, name: str, url: str, *, pool_size: int = 5) -> None:
        self.name = name
        try:
            backend = make_url(url).get_backend_name()
        except SQLAlchemyError as exc:
            raise unavailable(name, exc) from exc
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
        except SQLAlchemyError as exc:
            raise unavailable(name, exc) from exc
        self.kind = self.engine.dialect.name
        if self.kind == "sqlite":
            event.listen(self.engine, "connect", _small_page_cache)
        quote_every_identifier(self.engine)
        self._meta = MetaData()
        self._lock = threading.Lock()
        self._specs: dict[str, TableSpec] = {}
        self._statements: dict[Hashable, tuple[Select[Any], Select[Any]]] = {}
        self._statements_lock = threading.Lock()
        self._closed = False

    # --- describe ------------------------------------------------------------------------------------

    def ping(self) -> None:
        self._open()
        try:
            with self.engine.connect():
                pass
        except SQLAlchemyError as exc:
            raise unavailable(self.name, exc) from exc

    def describe(self, table: str) -> TableSpec:
        spec = self._specs.get(table)
        if spec is None:
            t = self._table(table)
            spec = TableSpec(table, tuple(_column_spec(c) for c in t.columns))
            self._specs[table] = spec
        return spec

    def _table(self, name: str) -> Table:
        """The table's columns (reflected once); indexes are not needed to query it."""
        self._open()
        with self._lock:
            if name in self._meta.tables:
                return self._meta.tables[name]
            try:
                if self.kind == "duckdb":
                    found = duckdb_columns(self.engine, name)
                    if found is None:
                        raise NoSuchTableError(name)
                    cols, pk = found
                else:
                    insp = inspect(self.engine)
                    cols = list(insp.get_columns(name))  # type: ignore[arg-type]
                    pk = set(insp.get_pk_constraint(name).get("constrained_columns") or [])
            except NoSuchTableError as exc:
                raise NoSuchTable(self.name, f"The table {name!r} is not in the data source '{self.name}'.") from exc
            except SQLAlchemyError as exc:
                raise unavailable(self.name, exc) from exc
            return Table(
                name,
                self._meta,
                *(
                    Column(c["name"], c["type"], nullable=bool(c.get("nullable", True)), primary_key=c["name"] in pk)
                    for c in cols
                ),
            )

    def indexes(self, table: str) -> list[Index]:
        """Expression index elements appear as their SQL text, lower-cased without spaces."""
        self._open()
        try:
            return read_indexes(self.engine, table)
        except SQLAlchemyError as exc:
            raise unavailable(self.name, exc) from exc

    def index_advice(self, table: str, column: str, *, expression: bool) -> str:
        """The CREATE INDEX (or, on MariaDB, the generated column) that makes this lookup an index search."""
        mariadb = bool(getattr(self.engine.dialect, "is_mariadb", False))  # known once connected (ping)
        return index_advice(self.engine, table, column, expression=expression, mariadb=mariadb)

    # --- read ----------------------------------------------------------------------------------------

    def read(self, read: Read) -> Iterator[list[Row]]:
        table = self._table(read.table)
        parts, repeats = groups(read)
        batches = self._read(table, read, parts)
        if repeats:
            at = [list(read.columns).index(c) for c in read.key]
            return once(batches, at)
        return batches

    def _read(self, table: Table, read: Read, parts: list[list[Condition]]) -> Iterator[list[Row]]:
        # Each statement is built once per shape (columns, conditions, window) and executed with its
        # values bound: building and caching a statement per read cost more than the read.
        since_column = read.since[0] if read.since else None
        try:
            for part in parts:
                params = {f"p{j}": c.values if c.how == "in" else c.values[0] for j, c in enumerate(part)}
                if read.since is not None:
                    params["since"] = since_value(read.since[1], self.kind)
                shape = (read.table, tuple((c.column, c.how) for c in part), since_column)
                where = partial(_where, table, shape[1], since_column, self.kind)
                yield from self._stream(
                    read.columns, table, where, read.key, params=params, shape=shape, batch=read.batch
                )
        except SQLAlchemyError as exc:
            raise unavailable(self.name, exc) from exc

    def _stream(
        self,
        columns: Sequence[str],
        table: Table,
        where: Callable[[], ColumnElement[bool]],
        order_by: Sequence[str],
        *,
        params: Mapping[str, Any],
        shape: Hashable,
        batch: int,
    ) -> Iterator[list[Row]]:
        """Rows in batches, ordered by `order_by` (columns among `columns`).

        Most subjects have few rows per collection, and a server-side cursor costs round trips (BEGIN,
        DECLARE, FETCH, CLOSE, ROLLBACK): first one plain query for at most `batch + 1` rows, with no ORDER
        BY so the database stops early, sorted here. Only when that finds more than `batch` rows is the
        query run again through a server-side cursor (where the driver has one), streamed in its order.
        The statements of a `shape` (a key that names the statement's columns and conditions, not their
        values) are built once, by `where`, and kept for every later read of that shape.
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
        where: Callable[[], ColumnElement[bool]],
        order_by: Sequence[str],
        batch: int,
        shape: Hashable,
    ) -> tuple[Select[Any], Select[Any]]:
        key = (shape, tuple(columns), tuple(order_by), batch)
        if (hit := self._statements.get(key)) is not None:
            return hit
        cond = where()
        cols = [table.c[c] for c in columns]
        made = (
            select(*cols).where(cond).limit(batch + 1),
            select(*cols).where(cond).order_by(*(table.c[c] for c in order_by)),
        )
        with self._statements_lock:
            if len(self._statements) >= _STATEMENTS:  # bounded: shapes are few (per collection and condition set)
                self._statements.clear()
            self._statements[key] = made
        return made

    def _probe_connection(self) -> Connection:
        """A connection for one read: on PostgreSQL in autocommit (no BEGIN and ROLLBACK round trips;
        psycopg switches it locally); elsewhere as it is (MySQL drivers would send SET autocommit)."""
        self._open()
        conn = self.engine.connect()
        if self.kind == "postgresql":
            return conn.execution_options(isolation_level="AUTOCOMMIT")
        return conn

    def explain(self, read: Read) -> str:
        """The statement with its values as placeholders (`datamap check` prints it)."""
        table = self._table(read.table)
        cond = or_(*(where_clause(table, c) for c in read.conditions))
        if read.since is not None:
            cond = and_(cond, since_clause(table, read.since[0], self.kind))
        stmt = select(*(table.c[c] for c in read.columns)).where(cond).order_by(*(table.c[c] for c in read.key))
        return str(stmt.compile(self.engine, compile_kwargs={"render_postcompile": True}))

    # --- erase ---------------------------------------------------------------------------------------

    def erase(self, changes: Sequence[Change], *, chunk: int) -> None:
        statements = list(self._changes(changes, chunk))
        try:
            with self.engine.begin() as conn:
                for stmt in statements:
                    conn.execute(stmt)
        except SQLAlchemyError as exc:
            raise unavailable(self.name, exc) from exc

    def rectify(self, changes: Sequence[Change], *, chunk: int = 500) -> list[list[Before]]:
        """Per change and chunk of keys: the rows' old values (SELECT ... FOR UPDATE where rows lock), then one
        UPDATE; every change in one transaction."""
        out: list[list[Before]] = []
        try:
            with self.engine.begin() as conn:
                for c in changes:
                    table = self._table(c.table)
                    values = dict(c.values or {})
                    found: list[Before] = []
                    for i in range(0, len(c.keys), chunk):
                        where = _keys_in(table, c.key, c.keys[i : i + chunk])
                        cols = [table.c[k] for k in c.key] + [table.c[v] for v in values]
                        stmt = select(*cols).where(where).order_by(*(table.c[k] for k in c.key))
                        if self.kind not in ("sqlite", "duckdb"):  # SQLite locks the file; DuckDB fails a conflict
                            stmt = stmt.with_for_update()
                        n = len(c.key)
                        for row in conn.execute(stmt):
                            found.append(Before(tuple(row[:n]), dict(zip(values, row[n:], strict=True))))
                        conn.execute(update(table).where(where).values(values))
                    out.append(found)
        except SQLAlchemyError as exc:
            raise unavailable(self.name, exc) from exc
        return out

    def explain_erase(self, changes: Sequence[Change], *, chunk: int) -> Iterator[str]:
        for stmt in self._changes(changes, chunk):
            yield str(stmt.compile(self.engine, compile_kwargs={"render_postcompile": True}))

    def _changes(self, changes: Sequence[Change], chunk: int) -> Iterator[Update | Delete]:
        """One UPDATE or DELETE per change and chunk of keys."""
        for c in changes:
            table = self._table(c.table)
            for i in range(0, len(c.keys), chunk):
                where = _keys_in(table, c.key, c.keys[i : i + chunk])
                if c.values is None:
                    yield delete(table).where(where)
                else:
                    yield update(table).where(where).values(dict(c.values))

    def close(self) -> None:
        self._closed = True
        self.engine.dispose()

    def _open(self) -> None:
        if self._closed:
            raise unavailable(self.name, RuntimeError("the connector is closed"))


def _column_spec(col: Column[Any]) -> ColumnSpec:
    try:
        temporal = issubclass(col.type.python_type, date)  # datetime is a date too
    except NotImplementedError:
        temporal = False
    try:
        type_name = str(col.type)
    except SQLAlchemyError:
        type_name = type(col.type).__name__
    nullable = bool(col.nullable)
    return ColumnSpec(
        name=str(col.name),
        schema=json_schema_for(col.type, nullable and not col.primary_key),
        nullable=nullable,
        primary_key=bool(col.primary_key),
        length=getattr(col.type, "length", None),
        type_name=type_name,
        temporal=temporal,
    )


def since_clause(table: Table, column: str, dialect: str) -> ColumnElement[bool]:
    """`column >= :since`, with `since` bound to `since_value(...)`: the form the database stores."""
    col = table.c[column]
    if dialect == "sqlite":  # text timestamps: let SQLite normalise both sides ('T', 'Z', fractions)
        return func.datetime(col) >= func.datetime(bindparam("since", type_=String()))
    return col >= bindparam("since")


def since_value(since: datetime, dialect: str) -> Any:
    utc = since.astimezone(UTC) if since.tzinfo else since  # naive values are UTC
    if dialect == "sqlite":
        return utc.strftime("%Y-%m-%d %H:%M:%S")
    if dialect == "postgresql":
        return utc.replace(tzinfo=UTC)
    return utc.replace(tzinfo=None)


def where_clause(table: Table, c: Condition) -> ColumnElement[bool]:
    """The condition with its values in it (`explain`; reads use `param_clause`, bound at execution)."""
    col = table.c[c.column]
    cond: ColumnElement[bool]
    if c.how == "lower_trim":
        cond = func.lower(func.trim(col)) == c.values[0]
    elif c.how == "equal":
        cond = col == c.values[0]
    else:
        cond = col.in_(list(c.values))
    return cond


def param_clause(table: Table, column: str, how: str, name: str) -> ColumnElement[bool]:
    """`where_clause` with its value bound at execution: `name` is one value (equal) or a list (in)."""
    col = table.c[column]
    if how == "in":
        return col.in_(bindparam(name, expanding=True))
    value: BindParameter[Any] = bindparam(name)
    return func.lower(func.trim(col)) == value if how == "lower_trim" else col == value


def _where(
    table: Table, conditions: tuple[tuple[str, str], ...], since_column: str | None, dialect: str
) -> ColumnElement[bool]:
    where = or_(*(param_clause(table, column, how, f"p{j}") for j, (column, how) in enumerate(conditions)))
    return where if since_column is None else and_(where, since_clause(table, since_column, dialect))


def _keys_in(table: Table, key: Sequence[str], keys: Sequence[Row]) -> ColumnElement[bool]:
    if len(key) == 1:
        return table.c[key[0]].in_([k[0] for k in keys])
    return tuple_(*(table.c[c] for c in key)).in_(list(keys))
