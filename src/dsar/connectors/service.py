"""The company-service adapter: an internal service answers for its own data (docs/company-services.md).

A source `service+https://dsar:<secret>@loyalty.internal/dsar` (the secret from `${ENV}`; `service+http://`
for loopback) is a service that speaks the protocol: dsar POSTs a JSON request signed with Standard Webhooks
headers; the service answers `200` with the result at once (signed the same way), or `202` and later POSTs the
signed result to the callback URL named in the request, which dsar's API hands to the `Mailbox`. Each request
carries an idempotency key (`webhook-id`, also `Idempotency-Key`): `<request id>.<action>`, where the request
id is a digest of the request's content, so a retried call carries the same key and the service answers it
from what it did before. Query parameters of the URL: `timeout` (seconds per HTTP exchange, 10), `wait`
(seconds to wait for a callback, 300), `poll` (seconds between looks at the mailbox, 0.5).
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import httpx
import orjson

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
    unavailable,
)
from dsar.errors import SourceError
from dsar.kit.signing import standard_webhook_headers, verify_standard_webhook

PROTOCOL = "dsar.service.v1"
_OPTIONS = ("timeout", "wait", "poll")


class Mailbox(Protocol):
    """Where dsar's API puts the results services post back (verified), for the connector waiting on them."""

    def callback_url(self, source: str, reply: str) -> str:
        """A signed, expiring URL the service posts the result of request `reply` to."""
        ...

    def take(self, source: str, reply: str) -> bytes | None:
        """The result posted for `reply` (removed from the mailbox), or None while none has arrived."""
        ...


class ServiceAnswer(Exception):
    """What was wrong with a service's answer (status, signature, shape); never quotes the answer."""


def service_secret(url: str) -> str | None:
    """The shared secret of a `service+...` URL (the password of its user part)."""
    parts = urlsplit(url)
    return unquote(parts.password) if parts.password else None


def _endpoint(url: str) -> tuple[str, dict[str, float]]:
    """The service's own URL (no user part, no dsar options) and dsar's options."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[1] if "+" in parts.scheme else "https"
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    query = parse_qsl(parts.query, keep_blank_values=True)
    opts = {k: float(v) for k, v in query if k in _OPTIONS}
    rest = urlencode([(k, v) for k, v in query if k not in _OPTIONS])
    return urlunsplit((scheme, netloc, parts.path or "/", rest, "")), opts


def _request_id(action: str, payload: dict[str, Any]) -> str:
    return hashlib.sha256(action.encode() + b"\n" + orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def _value(v: Any) -> Any:
    if isinstance(v, datetime):
        v = v.astimezone(UTC).replace(tzinfo=None) if v.tzinfo else v
        return v.isoformat() + "Z"
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, bytes):
        return base64.b64encode(v).decode("ascii")
    return v


def _types(schema: dict[str, Any]) -> list[str]:
    t = schema.get("type", "string")
    return [t] if isinstance(t, str) else list(t)


def _parse(value: Any, schema: dict[str, Any]) -> Any:
    """A JSON value as the Python value its schema describes (dates and times as such, naive UTC)."""
    if not isinstance(value, str):
        return value
    fmt = schema.get("format")
    try:
        if fmt == "date-time":
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return dt.astimezone(UTC).replace(tzinfo=None) if dt.tzinfo else dt
        if fmt == "date":
            return date.fromisoformat(value)
        if fmt == "decimal":
            return Decimal(value)
    except ValueError:
        return value
    return value


def _column(name: str, schema: dict[str, Any], key: Sequence[str], required: set[str]) -> ColumnSpec:
    types = _types(schema)
    nullable = "null" in types or (name not in required and name not in key)
    exported = {k: v for k, v in schema.items() if k in ("type", "format", "contentEncoding", "pattern")}
    return ColumnSpec(
        name=name,
        schema=exported,
        nullable=nullable,
        primary_key=name in key,
        length=schema.get("maxLength"),
        type_name="/".join(t for t in types if t != "null") + (f" ({schema['format']})" if "format" in schema else ""),
        temporal=schema.get("format") in ("date-time", "date", "time"),
    )


class ServiceConnector:
    """One company service. Safe to share between threads (httpx's client is)."""

    kind = "service"
    capabilities = Capabilities(erase=True, explain=True, rectify=True)

    def __init__(
        self,
        name: str,
        url: str,
        *,
        mailbox: Mailbox | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.name = name
        self.endpoint, opts = _endpoint(url)
        self.secret = service_secret(url) or ""
        self.timeout = opts.get("timeout", 10.0)
        self.wait = opts.get("wait", 300.0)
        self.poll = opts.get("poll", 0.5)
        self.mailbox = mailbox
        self._sleep = sleep
        self._transport = transport
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()
        self._catalog: dict[str, Any] | None = None
        self._closed = False

    # --- the exchange -----------------------------------------------------------------------------------

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._closed:
                raise unavailable(self.name, ServiceAnswer("the connector is closed"))
            if self._client is None:
                self._client = httpx.Client(timeout=self.timeout, follow_redirects=False, transport=self._transport)
            return self._client

    def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST one signed request; the result, at once or through the callback; `SourceError` otherwise."""
        if not self.secret:
            raise unavailable(self.name, ServiceAnswer("the source URL names no secret"))
        rid = _request_id(action, payload)
        key = f"{rid}.{action}"
        body: dict[str, Any] = {"type": PROTOCOL, "request_id": rid, "action": action, **payload}
        if self.mailbox is not None and action != "probe":
            body["callback_url"] = self.mailbox.callback_url(self.name, key)
        raw = orjson.dumps(body)
        headers = standard_webhook_headers(self.secret, key, datetime.now(UTC), raw)
        headers.update({"content-type": "application/json", "idempotency-key": key})
        try:
            resp = self._http().post(self.endpoint, content=raw, headers=headers)
        except httpx.HTTPError as exc:
            raise unavailable(self.name, exc) from exc
        if resp.status_code == 202:
            return self._await(key)
        if resp.status_code != 200:
            raise unavailable(self.name, ServiceAnswer(f"HTTP {resp.status_code}"))
        return self._verified(key, {k.lower(): v for k, v in resp.headers.items()}, resp.content)

    def _verified(self, key: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        if verify_standard_webhook(self.secret, headers, body, datetime.now(UTC)) != key:
            raise unavailable(self.name, ServiceAnswer("the answer is not signed with the source's secret"))
        return self._json(body)

    def _json(self, body: bytes) -> dict[str, Any]:
        try:
            out = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise unavailable(self.name, ServiceAnswer("the answer is not JSON")) from exc
        if not isinstance(out, dict):
            raise unavailable(self.name, ServiceAnswer("the answer is not a JSON object"))
        if out.get("error"):
            raise unavailable(self.name, ServiceAnswer(f"the service refused ({str(out['error'])[:40]})"))
        return out

    def _await(self, key: str) -> dict[str, Any]:
        """The result the service posts back (the API verified its signature), polled until `wait` runs out."""
        if self.mailbox is None:
            raise unavailable(self.name, ServiceAnswer("answered 202 but no callback endpoint is configured"))
        deadline = time.monotonic() + self.wait
        while True:
            got = self.mailbox.take(self.name, key)
            if got is not None:
                return self._json(got)
            if time.monotonic() >= deadline:
                raise unavailable(self.name, TimeoutError(f"no callback within {self.wait:g} s"))
            self._sleep(self.poll)

    # --- the port ---------------------------------------------------------------------------------------

    def ping(self) -> None:
        """A signed probe, answered and signed at once: the service is up and holds the same secret."""
        if self.call("probe", {}).get("status") != "ok":
            raise unavailable(self.name, ServiceAnswer("the probe was not answered ok"))

    def _collections(self) -> dict[str, Any]:
        if self._catalog is None:
            got = self.call("describe", {}).get("collections")
            if not isinstance(got, dict):
                raise unavailable(self.name, ServiceAnswer("describe gave no collections"))
            self._catalog = got
        return self._catalog

    def _entry(self, table: str) -> dict[str, Any]:
        entry = self._collections().get(table)
        if not isinstance(entry, dict):
            raise NoSuchTable(self.name, f"The collection {table!r} is not in the data source '{self.name}'.")
        return entry

    def describe(self, table: str) -> TableSpec:
        entry = self._entry(table)
        schema = entry.get("schema") or {}
        key = list(entry.get("key") or [])
        required = set(schema.get("required") or [])
        props = schema.get("properties") or {}
        return TableSpec(table, tuple(_column(n, s, key, required) for n, s in props.items()))

    def indexes(self, table: str) -> list[Index]:
        """The key and every lookup the service says it answers without a listing (its own indexes), each also
        as `lower(trim(field))`: the service applies the match rule it is sent."""
        entry = self._entry(table)
        out = [tuple(c.lower() for c in entry.get("key") or [])]
        for ix in entry.get("lookups") or []:
            cols = tuple(str(c).lower() for c in ix)
            out += [cols, (f"lower(trim({cols[0]}))", *cols[1:])] if cols else []
        return out

    def _access(self, read: Read) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "collection": read.table,
            "fields": list(read.columns),
            "key": list(read.key),
            "match": [
                {"field": c.column, "how": c.how, "values": [_value(v) for v in c.values]} for c in read.conditions
            ],
        }
        if read.since is not None:
            payload["since"] = {"field": read.since[0], "from": _value(read.since[1])}
        return payload

    def read(self, read: Read) -> Iterator[list[Row]]:
        table = self.describe(read.table)
        result = self.call("access", self._access(read))
        rows = result.get("rows")
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise unavailable(self.name, ServiceAnswer("the answer has no rows"))
        schemas = {c.name: c.schema for c in table.columns}
        out = [tuple(_parse(r.get(c), schemas.get(c, {})) for c in read.columns) for r in rows]
        key_at = [list(read.columns).index(k) for k in read.key]
        seen: set[Row] = set()
        unique = []
        for row in out:
            pk = tuple(row[i] for i in key_at)
            if pk not in seen:
                seen.add(pk)
                unique.append(row)
        try:
            unique.sort(key=lambda r: tuple(r[i] for i in key_at))
        except TypeError:
            unique.sort(key=lambda r: repr(tuple(r[i] for i in key_at)))
        return iter([unique[i : i + read.batch] for i in range(0, len(unique), read.batch)])

    def explain(self, read: Read) -> str:
        def cond(c: Condition) -> str:
            if c.how == "lower_trim":
                return f"lower(trim({c.column})) = ?"
            if c.how == "equal":
                return f"{c.column} = ?"
            return f"{c.column} IN ({', '.join('?' for _ in c.values)})"

        where = " OR ".join(cond(c) for c in read.conditions) or "false"
        since = f" AND {read.since[0]} >= ?" if read.since else ""
        return (
            f"POST {self.endpoint} action=access: SELECT {', '.join(read.columns)} FROM {read.table} "
            f"WHERE ({where}){since} ORDER BY {', '.join(read.key)}"
        )

    def erase(self, changes: Sequence[Change], *, chunk: int) -> None:
        """One request with every change: the service applies them all or none."""
        self._change("erase", changes)

    def _change(self, action: str, changes: Sequence[Change]) -> dict[str, Any]:
        payload = {
            "changes": [
                {
                    "collection": ch.table,
                    "key": list(ch.key),
                    "keys": [[_value(v) for v in k] for k in ch.keys],
                    "values": None if ch.values is None else {k: _value(v) for k, v in ch.values.items()},
                }
                for ch in changes
            ]
        }
        result = self.call(action, payload)
        if result.get("status") != "done":
            raise unavailable(self.name, ServiceAnswer(f"the service did not confirm the {action}"))
        return result

    def rectify(self, changes: Sequence[Change]) -> list[list[Before]]:
        """New values for the subject's rows (action `rectify`), all or none; the service tells each changed
        row's key and old values (`before`, per change, in key order), typed by the collection's schema."""
        changes = [ch for ch in changes if ch.values is not None]
        before = self._change("rectify", changes).get("before")
        if not isinstance(before, list) or len(before) != len(changes):
            raise unavailable(self.name, ServiceAnswer("the rectify answer has no `before` per change"))
        out: list[list[Before]] = []
        for ch, found in zip(changes, before, strict=True):
            schemas = {c.name: c.schema for c in self.describe(ch.table).columns}
            rows: list[Before] = []
            for item in found if isinstance(found, list) else []:
                if not isinstance(item, dict) or not isinstance(item.get("key"), list):
                    raise unavailable(self.name, ServiceAnswer("a `before` row has no key"))
                key = tuple(_parse(v, schemas.get(k, {})) for k, v in zip(ch.key, item["key"], strict=True))
                raw = item.get("values")
                values: dict[str, Any] = raw if isinstance(raw, dict) else {}
                rows.append(Before(key, {k: _parse(values.get(k), schemas.get(k, {})) for k in ch.values or {}}))
            try:
                rows.sort(key=lambda b: b.key)
            except TypeError:  # keys of mixed types: a stable order all the same
                rows.sort(key=lambda b: repr(b.key))
            out.append(rows)
        return out

    def explain_erase(self, changes: Sequence[Change], *, chunk: int) -> Iterator[str]:
        for ch in changes:
            for i in range(0, len(ch.keys), chunk):
                part = ch.keys[i : i + chunk]
                where = f"({', '.join(ch.key)}) IN ({', '.join('?' for _ in part)})"
                if ch.values is None:
                    yield f"DELETE FROM {ch.table} WHERE {where} -- POST {self.endpoint} action=erase"
                else:
                    sets = ", ".join(f"{k} = ?" for k in ch.values)
                    yield f"UPDATE {ch.table} SET {sets} WHERE {where} -- POST {self.endpoint} action=erase"

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._client is not None:
                self._client.close()
                self._client = None


def connect_service(name: str, url: str) -> ServiceConnector:
    """The registry's factory (`service+https://...`): without a mailbox, a service must answer at once."""
    return ServiceConnector(name, url)


__all__ = ["Mailbox", "ServiceAnswer", "ServiceConnector", "SourceError", "connect_service", "service_secret"]
