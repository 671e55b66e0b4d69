"""The HTTP side of the HTTP adapter: one pooled httpx client per source, its credentials, and its manners.

Every request goes through `Session.send`: it adds the credentials (a bearer token, basic auth, an API key
header, or an OAuth 2 client-credentials token fetched once and renewed when it expires or is refused),
honours rate limits (429 and 503 wait for `Retry-After`, or back off exponentially, `retries` times at
most; a server asking for longer than `max_wait_seconds` fails at once) and spends a `Budget`, so one
retrieval cannot page through a whole account. Errors carry the status or the transport error's type,
never a URL (its query holds the subject's e-mail) nor a body.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from dsar import log
from dsar.connectors.base import unavailable
from dsar.datamap.http import Auth, HttpSource
from dsar.errors import SourceError

_log = log.get("dsar.connectors.http")
_RETRIED = {429, 502, 503, 504}


class HttpStatusError(Exception):
    """The API answered with an error status (the message holds the status only)."""

    def __init__(self, status: int, what: str = "") -> None:
        super().__init__(f"HTTP {status}{f' ({what})' if what else ''}")
        self.status = status


class AuthRefused(HttpStatusError):
    """The API refused the credentials (401 or 403)."""

    def __init__(self, status: int) -> None:
        super().__init__(status, "authentication failed: check the source's http.auth and its secrets")


class BudgetExceeded(SourceError):
    """One retrieval needed more requests than the source's `max_requests` allows."""


class Budget:
    """Requests one retrieval may still send to a source. Safe to share between threads."""

    def __init__(self, source: str, limit: int) -> None:
        self.source, self.limit, self.spent = source, limit, 0
        self._lock = threading.Lock()

    def spend(self) -> None:
        with self._lock:
            if self.spent >= self.limit:
                raise BudgetExceeded(
                    self.source,
                    f"The data source '{self.source}' needed more than {self.limit} requests for one retrieval; "
                    "raise its http.max_requests or make the lookups narrower.",
                )
            self.spent += 1


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date), None without one."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


class Session:
    """Requests to one source. Safe to share between threads (httpx's pool is)."""

    def __init__(
        self,
        name: str,
        url: str,
        spec: HttpSource,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self.spec = spec
        self.base = httpx.URL(url.rstrip("/") + "/")
        self._sleep = sleep
        auth: httpx.Auth | None = None
        if spec.auth.type == "basic":
            auth = httpx.BasicAuth(spec.auth.username or "", spec.auth.password or "")
        self.client = httpx.Client(
            base_url=url.rstrip("/"),
            timeout=httpx.Timeout(spec.timeout_seconds),
            headers={"Accept": "application/json", "User-Agent": "dsar", **spec.headers},
            auth=auth,
            transport=transport,
            follow_redirects=False,  # a redirect could carry the credentials elsewhere
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=8),
        )
        self._token: tuple[str, float] | None = None  # OAuth 2 access token and when it expires
        self._token_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self.requests = 0  # sent so far (bench/ prints it)
        self.closed = False

    def close(self) -> None:
        self.closed = True
        self.client.close()

    def same_origin(self, url: str) -> bool:
        other = httpx.URL(url)
        return (other.scheme, other.host, other.port) == (self.base.scheme, self.base.host, self.base.port)

    def _headers(self) -> dict[str, str]:
        a: Auth = self.spec.auth
        if a.type == "bearer":
            return {"Authorization": f"Bearer {a.token}"}
        if a.type == "header":
            return {str(a.name): str(a.value)}
        if a.type == "oauth2":
            return {"Authorization": f"Bearer {self._access_token()}"}
        return {}

    def _access_token(self, renew: bool = False) -> str:
        with self._token_lock:
            if self._token is not None and not renew and self._token[1] > time.monotonic():
                return self._token[0]
            a = self.spec.auth
            data = {"grant_type": "client_credentials", **({"scope": a.scope} if a.scope else {})}
            self._count()
            try:
                resp = self.client.post(
                    str(a.token_url), data=data, auth=httpx.BasicAuth(str(a.client_id), str(a.client_secret))
                )
            except httpx.HTTPError as exc:
                raise unavailable(self.name, exc) from exc
            if resp.status_code in (400, 401, 403):
                raise unavailable(self.name, AuthRefused(resp.status_code))
            if resp.status_code >= 300:
                raise unavailable(self.name, HttpStatusError(resp.status_code, "token endpoint"))
            try:
                body = resp.json()
                token = str(body["access_token"])
                ttl = float(body.get("expires_in", 3600))
            except (ValueError, KeyError, TypeError) as exc:
                raise unavailable(self.name, exc) from exc
            self._token = (token, time.monotonic() + max(ttl - 30, ttl / 2))
            return token

    def _count(self) -> None:
        with self._count_lock:
            self.requests += 1

    def send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, Any] | None = None,
        json: Any = None,
        budget: Budget | None = None,
    ) -> httpx.Response:
        """One request, retried on 429, 502-504 and transport errors; an error status other than those is
        returned to the caller (who knows whether 404 means "none"); 401/403 raise `AuthRefused`."""
        if self.closed:
            raise unavailable(self.name, RuntimeError("the connector is closed"))
        renewed = False
        attempt = 0
        while True:
            if budget is not None:
                budget.spend()
            self._count()
            try:
                resp = self.client.request(method, url, params=params, data=data, json=json, headers=self._headers())
            except httpx.HTTPError as exc:
                failure: BaseException = exc
                wait = None
            else:
                if resp.status_code in (401, 403):
                    if self.spec.auth.type == "oauth2" and not renewed:
                        renewed = True
                        self._access_token(renew=True)  # expired or revoked: one more try with a new one
                        continue
                    raise unavailable(self.name, AuthRefused(resp.status_code))
                if resp.status_code not in _RETRIED:
                    return resp
                failure = HttpStatusError(resp.status_code)
                wait = retry_after(resp.headers.get("Retry-After"), time.time())
                resp.close()
            attempt += 1
            if attempt > self.spec.retries:
                raise unavailable(self.name, failure)
            if wait is not None and wait > self.spec.max_wait_seconds:
                raise unavailable(self.name, HttpStatusError(getattr(failure, "status", 0), "asked to wait too long"))
            if wait is None:
                wait = min(self.spec.backoff_seconds * 2 ** (attempt - 1), self.spec.max_wait_seconds)
            reason = str(failure) if isinstance(failure, HttpStatusError) else type(failure).__name__
            _log.warning("http_source_retry", source=self.name, attempt=attempt, error=reason, wait=wait)
            self._sleep(wait)
