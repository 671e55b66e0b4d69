"""Engines and session scopes for dsar's state database (SQLite in WAL mode, or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for the state database; SQLite gets WAL, a busy timeout and foreign keys."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
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
