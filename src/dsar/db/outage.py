"""The state database's outages as `Unavailable`, by SQLAlchemy's own classification of DBAPI errors.

PEP 249 calls `OperationalError` an error "not necessarily under the control of the programmer" (a lost
connection, a server shutting down, a lock that timed out) and `InterfaceError` one of the driver's
connection; SQLAlchemy marks an error that it detected as a disconnect with `connection_invalidated`.
Those are outages: work is retried later. Anything else (a constraint, a syntax error) is a bug. Two
drivers file bugs under OperationalError too (sqlite3: "no such table"; the MySQL drivers: an unknown
column), so for them only the error codes of a busy, locked, unreachable or failing database count.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from dsar.errors import Unavailable

SERVICE = "state database"


class StateUnavailable(Unavailable):
    """The state database cannot be reached or gave up on the statement (a lost connection, a lock timeout)."""

    def __init__(self, cause: str) -> None:
        super().__init__(SERVICE, f"The state database is unavailable ({cause}).")


def as_unavailable(exc: BaseException) -> Unavailable | None:
    """The outage `exc` is, or None if it is not one (an `Unavailable` is returned as it is)."""
    if isinstance(exc, Unavailable):
        return exc
    if not isinstance(exc, DBAPIError):
        return None
    if (
        exc.connection_invalidated
        or isinstance(exc, InterfaceError)
        or (isinstance(exc, OperationalError) and _transient(exc.orig))
    ):
        return StateUnavailable(type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__)
    return None


# SQLite's primary result codes: BUSY, LOCKED, IOERR, FULL, CANTOPEN.
_SQLITE_OUTAGES = frozenset({5, 6, 10, 13, 14})
# MySQL/MariaDB: lock wait timeout, deadlock, can't connect (socket, host), server gone away, lost connection.
_MYSQL_OUTAGES = frozenset({1205, 1213, 2002, 2003, 2006, 2013, 2055})


def _transient(orig: BaseException | None) -> bool:
    if isinstance(orig, sqlite3.Error):
        return (getattr(orig, "sqlite_errorcode", 0) & 0xFF) in _SQLITE_OUTAGES
    code = orig.args[0] if orig is not None and orig.args else None
    if isinstance(code, int):  # the MySQL drivers put the server's error number first
        return code in _MYSQL_OUTAGES
    return True  # PostgreSQL's OperationalError: the connection, the server or a lock


@contextmanager
def outages() -> Iterator[None]:
    """Raise the state database's outages inside the block as `StateUnavailable` (other errors pass)."""
    try:
        yield
    except DBAPIError as exc:
        outage = as_unavailable(exc)
        if outage is None:
            raise
        raise outage from exc


__all__ = ["StateUnavailable", "as_unavailable", "outages"]
