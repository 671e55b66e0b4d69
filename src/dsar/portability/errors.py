"""Errors of the Data Portability face. Each has a stable `code` (the wire `type`); the REST edge maps
codes to HTTP statuses and `category` values (see docs/portability.md).

DsarError
├── Unauthenticated        MISSING_TOKEN, INVALID_TOKEN, EXPIRED_TOKEN, REVOKED_TOKEN
├── AccessDenied           APP_NOT_REGISTERED, SCOPE_NOT_AUTHORIZED, AUTHORIZATION_USED
├── NotFound               SCOPE_NOT_FOUND, QUERY_NOT_FOUND, APP_NOT_FOUND (CLI)
├── Conflict               REQUEST_CONFLICT, QUERY_IN_PROGRESS, QUERY_CANCELED
├── InvalidInput           INVALID_MAX_RESULTS, INVALID_NEXT_PAGE_TOKEN, INVALID_NOTIFY_URL
└── Throttled              THROTTLED, QUOTA_EXCEEDED (retry_after seconds)
"""

from __future__ import annotations

from dsar.errors import DsarError


class Throttled(DsarError):
    kind = "throttled"
    code = "THROTTLED"

    def __init__(
        self,
        retry_after: int,
        message: str = "Rate exceeded: too many requests from this application; retry later.",
        code: str = "THROTTLED",
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after
