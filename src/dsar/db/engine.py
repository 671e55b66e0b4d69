"""Engines and session scopes for dsar's state database (SQLite in WAL mode, or PostgreSQL).

A wrong URL or an unreachable server is a `DatabaseConfigError` of one or two lines: what is wrong, what to do.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from dsar.db.sealed import FieldKey, use_field_key
from dsar.errors import DsarError

SETTING = "DSAR_DATABASE_URL"
_FORMS = "sqlite:////path/dsar.sqlite3 or postgresql+psycopg://USER@HOST/DB"
_DRIVERS = {  # backend: (the URL form dsar installs a driver for, the extra that installs it)
    "postgresql": ("postgresql+psycopg://", "postgres"),
    "mysql": ("mysql+pymysql://", "mysql"),
    "mariadb": ("mariadb+pymysql://", "mysql"),
}
_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306}


class DatabaseConfigError(DsarError):
    """A database URL that cannot work, or a server that does not answer; the message says what to do."""

    kind = "config"
    code = "DatabaseConfigError"


def check_url(url: str, setting: str = SETTING) -> URL:
    """The parsed URL, or a DatabaseConfigError: not a URL, an unknown scheme, a driver that is not installed,
    a SQLite file in a directory that does not exist (it is never created here)."""
    try:
        u = make_url(url)
    except ArgumentError:
        raise DatabaseConfigError(f"{setting} is not a database URL; use {_FORMS}") from None
    if u.drivername.split("+")[0] == "postgres":
        rest = url.split("://", 1)[-1] if "://" in url else "USER@HOST/DB"
        raise DatabaseConfigError(f"{setting}: SQLAlchemy does not know postgres://; write postgresql+psycopg://{rest}")
    try:
        dialect = u.get_dialect()
    except NoSuchModuleError:
        raise DatabaseConfigError(f"{setting}: unknown database scheme {u.drivername}://; use {_FORMS}") from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        form, extra = _DRIVERS.get(u.get_backend_name(), (None, None))
        hint = f'use {form}... and pip install "dsar[{extra}]"' if form else f"install the {u.get_driver_name()} driver"
        raise DatabaseConfigError(
            f"{setting}: the {u.get_driver_name()} driver of {u.drivername}:// is not installed ({exc.name}); {hint}"
        ) from exc
    if (
        u.get_backend_name() == "sqlite"
        and u.database
        and u.database != ":memory:"
        and not u.database.startswith("file:")
    ):
        parent = Path(u.database).parent
        if not parent.is_dir():
            raise DatabaseConfigError(f"{setting}: the directory {parent} does not exist; create it, or fix the URL")
    return u


def where(url: str | URL) -> str:
    """HOST:PORT of a server URL, or the file of a SQLite URL (no user, no password)."""
    u = make_url(url) if isinstance(url, str) else url
    if u.get_backend_name() == "sqlite":
        return u.database or ":memory:"
    return f"{u.host or 'localhost'}:{u.port or _PORTS.get(u.get_backend_name(), '?')}"


def connect_failure(exc: BaseException) -> str:
    """The underlying reason a connection failed, on one line (the driver's first line, without SQLAlchemy's
    wrapping and links)."""
    orig = getattr(exc, "orig", None) or exc
    args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
    pymysql = len(args) == 2 and isinstance(args[0], int) and isinstance(args[1], str)  # (code, message)
    text = args[1] if pymysql else str(orig)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    reason = lines[0] if lines else type(orig).__name__
    return reason.removeprefix("connection failed: ")


def unreachable(url: str, exc: BaseException) -> str:
    """`cannot connect to HOST:PORT: reason` for a connection to `url` that failed (no user, no password)."""
    try:
        at = where(url)
    except ArgumentError:
        return f"cannot connect: {connect_failure(exc)}"
    return f"cannot connect to {at}: {connect_failure(exc)}"


def connect_hint(reason: str, setting: str = SETTING) -> str:
    """What to do about a failed connection, from its reason."""
    low = reason.lower()
    if "no such table" in low or ("relation" in low and "does not exist" in low) or "doesn't exist" in low:
        return "a table is missing: run `dsar db upgrade` (for a data source: check the data map's table names)"
    if ("does not exist" in low and "database" in low) or "unknown database" in low:
        return f"create that database (createdb NAME on PostgreSQL, CREATE DATABASE NAME on MySQL), or fix {setting}"
    if "refused" in low or "can't connect" in low or "timeout" in low or "timed out" in low:
        return f"is the server running there? Start it, or fix the host and port in {setting}"
    if "password" in low or "access denied" in low or "authentication" in low or "role" in low:
        return f"fix the user or password in {setting}"
    return f"check {setting}"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for the state database; SQLite gets WAL, a busy timeout and foreign keys."""
    u = check_url(url)
    if u.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Autocommit off is handled by SQLAlchemy; set pragmas outside a transaction.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # Write transactions take the lock up front (BEGIN IMMEDIATE): a read-then-write
            # transaction would otherwise fail with SQLITE_BUSY instead of waiting its turn.
            immediate = conn.get_execution_options().get("sqlite_immediate", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        # Let SQLAlchemy's "begin" event emit BEGIN itself rather than pysqlite.
        @event.listens_for(engine, "connect", insert=True)
        def _no_pysqlite_begin(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


class Database:
    """Owns the engine and hands out sessions; the caller of `session()` owns the commit."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(engine.execution_options(sqlite_immediate=True), expire_on_commit=False)
        # A SQLite file: a point read takes microseconds and, in WAL mode, never waits for a writer, so the API
        # may run it on its event loop (a hop to a worker thread costs more than the read, and under load it
        # queues behind the GIL: B6 in docs/performance.md). Its own pool, which never makes a caller wait
        # (no overflow limit; in practice one connection per event loop), so the loop never blocks on a
        # checkout while worker threads hold the main pool's connections.
        u = engine.url
        self._inline: Engine | None = None
        if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:":
            self._inline = make_engine(u.render_as_string(hide_password=False), pool_size=2, max_overflow=-1)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def ping(self, setting: str = SETTING) -> None:
        """Connect once; a server that does not answer is a DatabaseConfigError naming where and why."""
        try:
            with self.engine.connect():
                pass
        except SQLAlchemyError as exc:
            reason = connect_failure(exc)
            raise DatabaseConfigError(
                f"cannot connect to the state database ({setting}) at {where(self.engine.url)}: {reason}\n"
                f"  {connect_hint(reason, setting)}"
            ) from exc

    @contextmanager
    def session(self, *, write: bool = True) -> Iterator[Session]:
        """A unit of work that commits on success; `write=False` for read-only work (no write lock)."""
        factory = self._write if write else self._read
        with factory() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def seal_fields(self, key: FieldKey | None) -> None:
        """Seal the `SealedText`/`SealedJSON` columns (subjects' data) with `key` on every engine of this database
        (bytes, or a function returning them on first use)."""
        for engine in (self.engine, self._inline):
            if engine is not None:
                use_field_key(engine, key)

    @property
    def inline_reads(self) -> bool:
        """Whether `read()` may run on an event loop's thread (a local SQLite file; not a database server,
        where a read is a network round trip that would stall every other request of the loop)."""
        return self._inline is not None

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A Core connection for one short read (no ORM session; rolled back, i.e. released, at the end)."""
        with (self._inline or self.engine).connect() as conn:
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()
        if self._inline is not None:
            self._inline.dispose()
