"""The one error tree. Only the API edges know HTTP statuses and wire formats.

DsarError (code, kind)
├── InvalidInput          kind="validation"   bad input, nothing changed
├── NotFound              kind="not_found"    unknown, expired or foreign id (they answer alike)
├── Unauthenticated       kind="unauthenticated"
├── AccessDenied          kind="forbidden"
├── Conflict              kind="conflict"
├── DataMapError          kind="config"       the data map is wrong: file, line and the fix
└── Unavailable           kind="unavailable"  a service is down or unreachable: retry later, not a bug
    ├── SourceError       kind="source"       a data source failed after retries (ends the task)
    └── (StorageUnavailable in storage, the state database's and the broker's outages)

Adapters raise `Unavailable` (or a subclass) for outages: the object store, the state database, the
broker, a data source. Whoever retries work (the task worker, the background loops) tells an outage from
a bug with `is_outage`, never by the name of an exception's class.
"""

from __future__ import annotations


class DsarError(Exception):
    kind = "internal"
    code = "InternalError"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidInput(DsarError):
    kind = "validation"
    code = "UnspecifiedError"

    def __init__(self, message: str, *, code: str | None = None, issues: list[str] | None = None) -> None:
        super().__init__(message, code=code)
        self.issues = issues or []


class NotFound(DsarError):
    kind = "not_found"
    code = "ResourceNotFound"


class Unauthenticated(DsarError):
    kind = "unauthenticated"
    code = "Unauthenticated"


class AccessDenied(DsarError):
    kind = "forbidden"
    code = "AccessDenied"


class Conflict(DsarError):
    kind = "conflict"
    code = "Conflict"


class DataMapError(DsarError):
    kind = "config"
    code = "DataMapInvalid"


class Unavailable(DsarError):
    """A service dsar depends on is down or unreachable (`service` names which, never with credentials)."""

    kind = "unavailable"
    code = "SERVICE_UNAVAILABLE"

    def __init__(self, service: str, message: str) -> None:
        super().__init__(message)
        self.service = service


class SourceError(Unavailable):
    """A data source still failed after the engine's retries: the task it served ends FAILED."""

    kind = "source"
    code = "SOURCE_UNAVAILABLE"

    def __init__(self, source: str, message: str) -> None:
        super().__init__(source, message)
        self.source = source


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` says a service is down (retried later, not counted as a bug): an `Unavailable`, or the
    operating system's own word for a refused, reset or aborted connection (`ConnectionError`) that an
    adapter let through."""
    return isinstance(exc, (Unavailable, ConnectionError))


__all__ = [
    "AccessDenied",
    "Conflict",
    "DataMapError",
    "DsarError",
    "InvalidInput",
    "NotFound",
    "SourceError",
    "Unauthenticated",
    "Unavailable",
    "is_outage",
]
