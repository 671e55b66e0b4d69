"""The one error tree. Only the API edges know HTTP statuses and wire formats.

DsarError (code, kind)
├── InvalidInput          kind="validation"   bad input, nothing changed
├── NotFound              kind="not_found"    unknown, expired or foreign id (they answer alike)
├── Unauthenticated       kind="unauthenticated"
├── AccessDenied          kind="forbidden"
├── Conflict              kind="conflict"
├── DataMapError          kind="config"       the data map is wrong: file, line and the fix
└── SourceError           kind="source"       a data source failed after retries
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


class SourceError(DsarError):
    kind = "source"
    code = "SOURCE_UNAVAILABLE"

    def __init__(self, source: str, message: str) -> None:
        super().__init__(message)
        self.source = source


__all__ = [
    "AccessDenied",
    "Conflict",
    "DataMapError",
    "DsarError",
    "InvalidInput",
    "NotFound",
    "SourceError",
    "Unauthenticated",
]
