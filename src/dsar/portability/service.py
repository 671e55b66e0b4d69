"""The two operations of the Data Portability API, and apps.

Order of checks for both operations: token (401), app registered (403), throttling (429), scope known
(404), scope granted (403); then the five-minute memory (same caller, same parameters: same response),
then the operation's own checks. Responses are remembered in the state database, so every replica
answers alike.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.exc import IntegrityError

from dsar import log
from dsar.auth.endusers import EndUser, EndUserTokens
from dsar.datamap.identities import parse_identity
from dsar.datamap.model import DataMap
from dsar.datamap.portability import PortabilityScope
from dsar.db.engine import Database
from dsar.errors import AccessDenied, Conflict, InvalidInput, NotFound, Unauthenticated
from dsar.kit.clock import Clock
from dsar.kit.ids import is_uuid, new_id
from dsar.kit.signing import sign, verify
from dsar.notifications.service import Notifications
from dsar.portability import repository as repo
from dsar.portability.errors import Throttled
from dsar.portability.models import CANCELED, App, DataQuery, GrantUse
from dsar.portability.models import CHANNEL as CHANNEL  # the face's tasks' channel (the composition root routes it)
from dsar.portability.settings import PortabilitySettings
from dsar.storage.base import Storage
from dsar.tasks import repository as tasks_repo
from dsar.tasks.records import OnOpen, OpenedTask
from dsar.tasks.states import IN_PROGRESS, RETRIEVAL

_log = log.get("dsar.portability")
MAX_RESULTS, DEFAULT_RESULTS = 250, 100
_TOKEN_CODES = {"missing": "MISSING_TOKEN", "invalid": "INVALID_TOKEN", "expired": "EXPIRED_TOKEN"}


@dataclass(frozen=True)
class Caller:
    user: EndUser
    app_id: str
    subject_ref: str
    revoked_at: datetime | None = None  # the latest revocation of the app for this customer (before this token)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class AppView:
    app_id: str
    name: str
    notify_url: str
    topic_arn: str


def check_notify_url(url: str, allow_private: bool) -> str:
    """https, a host, and not loopback, private or link-local (unless allowed)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidInput(f"{url!r} is not an absolute https URL.", code="INVALID_NOTIFY_URL")
    if allow_private:
        return url
    if parts.scheme != "https":
        raise InvalidInput("The notification URL must use https.", code="INVALID_NOTIFY_URL")
    host = parts.hostname
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        raise InvalidInput("The notification URL must not point at a local host.", code="INVALID_NOTIFY_URL")
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            addresses = [ipaddress.ip_address(info[4][0]) for info in socket.getaddrinfo(host, 443)]
        except (OSError, ValueError):
            addresses = []  # unresolvable now: accepted; delivery retries until the name resolves
    for addr in addresses:
        if not addr.is_global:
            raise InvalidInput(
                "The notification URL must not point at a loopback, private or link-local address.",
                code="INVALID_NOTIFY_URL",
            )
    return url


class Portability:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        endusers: EndUserTokens,
        subject_ref: Callable[[str], str],
        datamap: Callable[[], DataMap],
        storage: Storage,
        notifications: Notifications,
        settings: PortabilitySettings,
        page_key: bytes,
        notify: Callable[[str], None],
        on_open: OnOpen | None = None,
    ) -> None:
        self.on_open = on_open  # called in the transaction that creates a data query's task
        self.db, self.clock, self.endusers = db, clock, endusers
        self.subject_ref, self._datamap, self.storage = subject_ref, datamap, storage
        self.notifications, self.settings, self.page_key, self.notify = notifications, settings, page_key, notify

    # -- apps ----------------------------------------------------------------------------------------
    def create_app(
        self, name: str, notify_url: str, rate_limit: int | None = None, daily_quota: int | None = None
    ) -> AppView:
        name = name.strip()
        if not name or len(name) > 200:
            raise InvalidInput("The app name must have 1 to 200 characters.", code="INVALID_NAME")
        check_notify_url(notify_url, self.settings.allow_private_notify_urls)
        app_id = new_id()
        with self.db.session() as s:
            s.add(
                App(
                    id=app_id,
                    name=name,
                    notify_url=notify_url,
                    rate_limit=rate_limit,
                    daily_quota=daily_quota,
                    created_at=self.clock.now(),
                )
            )
            self.notifications.subscribe(s, app_id, notify_url)
        return AppView(app_id, name, notify_url, self.notifications.topic_arn(app_id))

    def apps(self) -> list[AppView]:
        """Every app, newest first (the console's integrations page)."""
        with self.db.session(write=False) as s:
            rows = repo.all_apps(s)
            return [AppView(a.id, a.name, a.notify_url, self.notifications.topic_arn(a.id)) for a in rows]

    def revoke(self, app_id: str, email: str | None = None) -> int:
        """Revoke the app's authorization by one customer (or, without `email`, by every customer): their
        tokens issued until now are refused (401 REVOKED_TOKEN), their queries in progress end CANCELED
        (`AUTHORIZATION_REVOKED`) and earlier queries answer like unknown ones. Returns the number of queries
        in progress that will be canceled."""
        subject_ref = self.subject_ref(parse_identity("email", email)) if email is not None else None
        now = self.clock.now()
        with self.db.session() as s:
            if repo.get_app(s, app_id) is None:
                raise NotFound(f"No app {app_id}.", code="APP_NOT_FOUND")
            repo.revoke(s, app_id, subject_ref, now)
            active = repo.active_query_ids(s, app_id, subject_ref)
        _log.info("authorization_revoked", app_id=app_id, every_customer=email is None, active=len(active))
        for query_id in active:  # wake the workers: each of these queries now ends CANCELED
            self.notify(query_id)
        return len(active)

    # -- shared checks -------------------------------------------------------------------------------
    def scopes(self) -> dict[str, PortabilityScope]:
        section = self._datamap().portability
        return dict(section.scopes) if section else {}

    def authorize(self, authorization: str | None, scope_id: str) -> Caller:
        try:
            user = self.endusers.verify(authorization)
        except Unauthenticated as exc:
            raise Unauthenticated(exc.message, code=_TOKEN_CODES.get(exc.code, "INVALID_TOKEN")) from None
        now = self.clock.now()
        subject_ref = self.subject_ref(user.subject)
        with self.db.session() as s:
            app = repo.get_app(s, user.client_id)
            if app is None:
                raise AccessDenied(
                    "The application of this token is not registered for Data Portability.", code="APP_NOT_REGISTERED"
                )
            revoked = repo.revoked_at(s, app.id, subject_ref)
            if revoked is not None and (user.issued_at is None or user.issued_at <= revoked.timestamp()):
                raise Unauthenticated(
                    "The customer revoked this application's authorization; ask them to authorize it again.",
                    code="REVOKED_TOKEN",
                )
            window = self.settings.rate_window_seconds
            start = datetime.fromtimestamp(int(now.timestamp()) // window * window, UTC)
            count = repo.count_request(s, app.id, start)
            limit = app.rate_limit or self.settings.rate_limit
        if count > limit:
            raise Throttled(max(1, int((start + timedelta(seconds=window) - now).total_seconds() + 0.999)))
        if scope_id not in self.scopes():
            raise NotFound(f"The scope {scope_id} does not exist.", code="SCOPE_NOT_FOUND")
        if scope_id not in user.scopes:
            raise AccessDenied(
                f"The customer did not authorize this application for the scope {scope_id}.",
                code="SCOPE_NOT_AUTHORIZED",
            )
        return Caller(user, app.id, subject_ref, revoked)

    def _memory_key(self, caller: Caller, *parts: str) -> str:
        """Same app, customer and transfer preferences (the authorization), same operation and parameters."""
        transfer = json.dumps(caller.user.transfer, sort_keys=True, default=str)
        raw = "\n".join((caller.app_id, caller.subject_ref, transfer, *parts))
        return hashlib.sha256(raw.encode()).hexdigest()

    def _remembered(self, key: str, caller: Caller) -> Answer | None:
        ttl = self.settings.response_ttl_seconds
        if ttl == 0:
            return None
        with self.db.session(write=False) as s:
            row = repo.stored_response(s, key, self.clock.now())
            if row is None:
                return None
            if caller.revoked_at is not None and row.expires_at - timedelta(seconds=ttl) <= caller.revoked_at:
                return None  # given under an authorization the customer revoked since
            return Answer(row.status, dict(row.body))

    def _count_daily(self, caller: Caller, scope_id: str) -> None:
        """The daily quota of createDataQuery per app and scope (UTC days)."""
        now = self.clock.now()
        with self.db.session() as s:
            app = repo.get_app(s, caller.app_id)
            quota = (app.daily_quota if app else None) or self.settings.daily_quota
            count = repo.count_daily(s, caller.app_id, scope_id, now.date().isoformat())
        if count > quota:
            midnight = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
            raise Throttled(
                max(1, int((midnight - now).total_seconds() + 0.999)),
                f"The daily quota of {quota} data queries for this application and scope is used up; "
                "retry after midnight UTC.",
                code="QUOTA_EXCEEDED",
            )

    # -- createDataQuery -----------------------------------------------------------------------------
    def create_query(self, authorization: str | None, scope_id: str) -> Answer:
        caller = self.authorize(authorization, scope_id)
        key = self._memory_key(caller, "createDataQuery", scope_id)
        if (hit := self._remembered(key, caller)) is not None:
            return hit
        self._count_daily(caller, scope_id)
        user, now = caller.user, self.clock.now()
        since = _history_start(user.transfer, now)
        grant = str(user.transfer.get("grant", ""))
        grant_key = None
        if grant == "once":
            grant_id = str(user.transfer.get("grant_id") or user.token_id)
            grant_key = hashlib.sha256(f"{caller.app_id}\n{caller.subject_ref}\n{scope_id}\n{grant_id}".encode())
        active = f"{caller.app_id}:{caller.subject_ref}:{scope_id}"
        query_id = new_id()
        answer = Answer(201, {"id": query_id})
        with self.db.session() as s:
            if grant_key is not None and repo.grant_used(s, grant_key.hexdigest()):
                raise AccessDenied(
                    "This one-time authorization was already used for a data transfer; the customer must "
                    "authorize the application again.",
                    code="AUTHORIZATION_USED",
                )
            if repo.active_query(s, active) is not None:
                raise Conflict("There is a conflicting request in progress", code="REQUEST_CONFLICT")
            tasks_repo.add_task(
                s,
                task_id=query_id,
                tenant=f"adp:{caller.app_id}",
                kind=RETRIEVAL,
                channel=CHANNEL,
                subject_type="SHOPPER",
                subject_email=user.subject,
                subject_ref=caller.subject_ref,
                status=IN_PROGRESS,
                now=now,
                due_at=now,
            )
            if self.on_open is not None:
                self.on_open(s, [OpenedTask(query_id, f"adp:{caller.app_id}", RETRIEVAL, CHANNEL, user.subject)])
            s.add(
                DataQuery(
                    id=query_id,
                    app_id=caller.app_id,
                    subject_ref=caller.subject_ref,
                    scope_id=scope_id,
                    active_key=active,
                    since=since,
                    created_at=now,
                )
            )
            if grant_key is not None:
                s.add(GrantUse(grant_key=grant_key.hexdigest(), query_id=query_id, used_at=now))
            repo.purge_responses(s, now)
            if self.settings.response_ttl_seconds:
                expires = now + timedelta(seconds=self.settings.response_ttl_seconds)
                repo.store_response(s, key, answer.status, answer.body, expires)
            try:
                s.flush()
            except IntegrityError:  # the unique active key (or grant): a concurrent request won
                raise Conflict("There is a conflicting request in progress", code="REQUEST_CONFLICT") from None
        _log.info("data_query_started", task_id=query_id, scope=scope_id, subject=caller.subject_ref[:16])
        self.notify(query_id)
        return answer

    # -- listDataQueryRecords ------------------------------------------------------------------------
    def list_records(
        self,
        authorization: str | None,
        scope_id: str,
        query_id: str,
        max_results: str | None,
        next_page_token: str | None,
    ) -> Answer:
        caller = self.authorize(authorization, scope_id)
        limit = _max_results(max_results)
        key = self._memory_key(caller, "listDataQueryRecords", scope_id, query_id, str(limit), next_page_token or "")
        if (hit := self._remembered(key, caller)) is not None:
            return hit
        unknown = NotFound(f"The data query {query_id} does not exist.", code="QUERY_NOT_FOUND")
        if not is_uuid(query_id):
            raise unknown
        with self.db.session(write=False) as s:
            q = repo.query_of(s, query_id, caller.app_id, caller.subject_ref, scope_id)
            if q is None or (caller.revoked_at is not None and q.created_at <= caller.revoked_at):
                raise unknown  # a query under a revoked authorization is gone for the app
            outcome, records = q.outcome, list(q.records or [])
        if outcome is None:
            raise Conflict(
                "The data query is still in progress; wait for its COMPLETED notification.", code="QUERY_IN_PROGRESS"
            )
        if outcome == CANCELED:
            raise Conflict("The data query was canceled; start a new one.", code="QUERY_CANCELED")
        offset = self._offset(next_page_token, caller, query_id)
        page = records[offset : offset + limit]
        ttl = self.settings.link_ttl_seconds
        body = {
            "records": [
                {
                    "schema": self.storage.signed_url(r["schema"], ttl, filename=r["schema"].rsplit("/", 1)[-1]),
                    "file": self.storage.signed_url(r["file"], ttl, filename=r["file"].rsplit("/", 1)[-1]),
                }
                for r in page
            ],
            "nextPageToken": self._token(caller, query_id, offset + limit) if offset + limit < len(records) else "",
        }
        answer = Answer(200, body)
        if self.settings.response_ttl_seconds:
            now = self.clock.now()
            with self.db.session() as s:
                repo.store_response(s, key, 200, body, now + timedelta(seconds=self.settings.response_ttl_seconds))
        return answer

    def _token(self, caller: Caller, query_id: str, offset: int) -> str:
        payload = base64.urlsafe_b64encode(json.dumps([query_id, offset]).encode()).rstrip(b"=").decode()
        return f"{payload}.{sign(self.page_key, payload, caller.app_id, caller.subject_ref)}"

    def _offset(self, token: str | None, caller: Caller, query_id: str) -> int:
        if not token:
            return 0
        bad = InvalidInput(
            "The nextPageToken is not valid: pass the value of nextPageToken of the previous page unchanged.",
            code="INVALID_NEXT_PAGE_TOKEN",
        )
        payload, _, signature = token.partition(".")
        if not signature or not verify(self.page_key, signature, payload, caller.app_id, caller.subject_ref):
            raise bad
        try:
            qid, offset = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (ValueError, TypeError):
            raise bad from None
        if qid != query_id or not isinstance(offset, int) or offset < 0:
            raise bad
        return offset


def _max_results(value: str | None) -> int:
    if value is None:
        return DEFAULT_RESULTS
    v = value.strip()
    if not v.isdigit() or not 1 <= int(v) <= MAX_RESULTS:
        raise InvalidInput("Max results value is outside limits", code="INVALID_MAX_RESULTS")
    return int(v)


def _history_start(transfer: dict[str, Any], now: datetime) -> datetime | None:
    """The start of the history window the customer chose: last N days, or since a date (UTC midnight)."""
    bad = Unauthenticated("The token's transfer preferences are not valid.", code="INVALID_TOKEN")
    if "history_days" in transfer:
        days = transfer["history_days"]
        if not isinstance(days, int) or isinstance(days, bool) or days < 1:
            raise bad
        return now - timedelta(days=days)
    if "history_since" in transfer:
        try:
            d = date.fromisoformat(str(transfer["history_since"]))
        except ValueError:
            raise bad from None
        return datetime(d.year, d.month, d.day, tzinfo=UTC)
    return None
