"""The state database's outages as `Unavailable`, by SQLAlchemy's own classification of DBAPI errors.

PEP 249 calls `OperationalError` an error "not necessarily under the control of the programmer" (a lost
connection, a server shutting down, a lock that timed out) and `InterfaceError` one of the driver's
connection; SQLAlchemy marks an error that it detected as a disconnect with `connection_invalidated`.
Those are outages: work is retried later. Anything else (a constraint, a syntax error) is a bug.
"""

from __future__ import annotations

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
    if isinstance(exc, DBAPIError) and (
        exc.connection_invalidated or isinstance(exc, (OperationalError, InterfaceError))
    ):
        return StateUnavailable(type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__)
    return None


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
