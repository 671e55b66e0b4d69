"""The HTTP adapter of the connector port: a web API declared in the data map (`sources.<name>.http`).

A table is a declared resource: the request that lists its rows, where the rows are in the JSON body,
their columns, and the lookups the API can do (`filters`: a column found through a query parameter or a
path). A read sends one lookup per value of each condition and pages through its answer (Stripe's
`has_more`, a body cursor, page or offset numbers, or the `Link` header), yielding rows page by page;
each row is checked against the condition here too, so an API that ignored a filter cannot leak other
people's rows. A condition on a column the API cannot filter is refused: the adapter never lists a whole
account (`dsar datamap check` says so first). Erasure sends one DELETE or update per row; it is not
one transaction, so each request is idempotent (a row already gone answers 404, which counts as done)
and a rerun finishes what an outage interrupted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from dsar.connectors.base import (
    Capabilities,
    Change,
    ColumnSpec,
    Condition,
    Index,
    NoSuchTable,
    Read,
    Row,
    TableSpec,
    once,
    unavailable,
)
from dsar.connectors.http_client import Budget, HttpStatusError, Session
from dsar.datamap.http import ColumnType, Filter, HttpSource, Pagination, Resource
from dsar.errors import DataMapError

_WALKS = 4096  # budgets of this many recent walks are kept (a walk lasts seconds to minutes)
_SCHEMAS: dict[ColumnType, dict[str, Any]] = {
    "string": {"type": ["string", "null"]},
    "integer": {"type": ["integer", "null"]},
    "number": {"type": ["number", "null"]},
    "boolean": {"type": ["boolean", "null"]},
    "object": {"type": ["object", "null"]},
    "array": {"type": ["array", "null"]},
    "any": {},
}


def at_path(body: Any, path: str) -> Any:
    """The value at a dotted path of a JSON body (`data`, `result.items`); the body itself for ""."""
    for part in (p for p in path.split(".") if p):
        if not isinstance(body, dict):
            return None
        body = body.get(part)
    return body


def _matches(value: Any, c: Condition, wanted: set[Any]) -> bool:
    if value is None:
        return False
    if c.how == "lower_trim":
        return isinstance(value, str) and value.strip(" ").lower() == c.values[0]
    return value in wanted


def _instant(value: Any) -> datetime | None:
    """A row's timestamp (Unix seconds or ISO 8601 text) as naive UTC, for a time window."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC).replace(tzinfo=None)
        if isinstance(value, str):
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed
    except (ValueError, OverflowError, OSError):
        return None
    return None


class HttpConnector:
    """One web API. Safe to share between threads."""

    kind = "http"
    capabilities = Capabilities(erase=True, explain=True, scan=False, transactional=False)

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
        self.session = Session(name, url, spec, transport=transport, sleep=sleep)
        self._lock = threading.Lock()
        self._budgets: dict[str, Budget] = {}  # per walk, the most recent last

    # --- describe ------------------------------------------------------------------------------------

    def _resource(self, table: str) -> Resource:
        if self.session.closed:
            raise unavailable(self.name, RuntimeError("the connector is closed"))
        res = self.spec.resources.get(table)
        if res is None:
            raise NoSuchTable(self.name, f"The resource {table!r} is not declared in the data source '{self.name}'.")
        return res

    def ping(self) -> None:
        resp = self.session.send("GET", self.spec.ping or "/")
        if self.spec.ping is not None and resp.status_code >= 300:
            raise unavailable(self.name, HttpStatusError(resp.status_code, "the ping path"))
        if resp.status_code >= 500:
            raise unavailable(self.name, HttpStatusError(resp.status_code))

    def describe(self, table: str) -> TableSpec:
        res = self._resource(table)
        return TableSpec(
            table,
            tuple(
                ColumnSpec(name=col, schema=dict(_SCHEMAS[type_]), nullable=True, type_name=type_)
                for col, type_ in res.columns.items()
            ),
        )

    def indexes(self, table: str) -> list[Index]:
        """The columns the API can look rows up by (its filters): what `datamap check` needs of a lookup."""
        return [(col.lower(),) for col in self._resource(table).filters]

    # --- read ----------------------------------------------------------------------------------------

    def read(self, read: Read) -> Iterator[list[Row]]:
        res = self._resource(read.table)
        for col in read.columns:
            if col not in res.columns:
                raise KeyError(col)  # as the SQL adapter: a column the resource lacks is a bug, not an outage
        for c in read.conditions:
            if c.column not in res.filters:
                raise DataMapError(
                    f"source {self.name!r}: the API cannot look up {read.table!r} by {c.column!r} (no filter "
                    "declared); dsar does not list a whole account to find a subject's rows"
                )
        batches = self._read(res, read)
        if len(read.conditions) > 1:
            return once(batches, [list(read.columns).index(k) for k in read.key])
        return batches

    def _budget(self, retrieval: str) -> Budget:
        """The requests a walk may still send here: shared by its reads (and their retries); a read outside
        a walk gets its own."""
        if not retrieval:
            return Budget(self.name, self.spec.max_requests)
        with self._lock:
            budget = self._budgets.pop(retrieval, None) or Budget(self.name, self.spec.max_requests)
            self._budgets[retrieval] = budget  # most recent last
            while len(self._budgets) > _WALKS:
                self._budgets.pop(next(iter(self._budgets)))
            return budget

    def _read(self, res: Resource, read: Read) -> Iterator[list[Row]]:
        budget = self._budget(read.retrieval)
        at = [list(read.columns).index(k) for k in read.key]
        since = None
        if read.since is not None:
            bound = read.since[1]
            since = (read.since[0], bound.astimezone(UTC).replace(tzinfo=None) if bound.tzinfo else bound)
        for c in read.conditions:
            wanted = set(c.values)
            for value in dict.fromkeys(c.values):  # one lookup per value, in order, each once
                for page in self._pages(res, res.filters[c.column], value, budget):
                    kept = [
                        tuple(row.get(col) for col in read.columns)
                        for row in page
                        if _matches(row.get(c.column), c, wanted) and _in_window(row, since)
                    ]
                    kept.sort(key=lambda r: tuple(_sortable(r[i]) for i in at))
                    for i in range(0, len(kept), read.batch):
                        yield kept[i : i + read.batch]

    def _pages(self, res: Resource, f: Filter, value: Any, budget: Budget) -> Iterator[list[dict[str, Any]]]:
        p = self.spec.pagination_of(res)
        params = dict(res.params)
        path = res.path
        if f.param is not None:
            params[f.param] = str(value)
        else:
            path = str(f.path).replace("{value}", quote(str(value), safe=""))
        if p.size_param:
            params[p.size_param] = str(p.size)
        if p.type == "page":
            params[str(p.param)] = str(p.start)
        elif p.type == "offset":
            params[str(p.param)] = "0"
        url: str = path
        last: list[dict[str, Any]] | None = None
        while True:
            resp = self.session.send("GET", url, params=params or None, budget=budget)  # a Link URL has its own
            if resp.status_code == 404:
                return  # a lookup by path, or a filter on a key that no longer exists: no rows
            if resp.status_code >= 300:
                raise unavailable(self.name, HttpStatusError(resp.status_code))
            try:
                body = resp.json()
            except ValueError as exc:
                raise unavailable(self.name, exc) from exc
            found = at_path(body, res.rows if f.rows is None else f.rows)
            if isinstance(found, dict):  # one object (a lookup by path): no pages follow
                yield [found]
                return
            rows = [r for r in found if isinstance(r, dict)] if isinstance(found, list) else []
            if rows and rows == last:  # an API that ignores the page parameter would answer the first page forever
                raise unavailable(self.name, HttpStatusError(resp.status_code, "the same page twice: check pagination"))
            last = rows
            if rows:
                yield rows
            nxt = _next(p, body, rows, resp, params)
            if nxt is None:
                return
            if p.type == "link":
                if not self.session.same_origin(nxt):
                    raise unavailable(self.name, HttpStatusError(0, "a Link header points to another host"))
                url, params = nxt, {}
            else:
                params[str(p.param)] = nxt

    def explain(self, read: Read) -> str:
        """The requests of a read, one line per condition, values as placeholders."""
        res = self._resource(read.table)
        p = self.spec.pagination_of(res)
        out = []
        for c in read.conditions:
            f = res.filters.get(c.column)
            if f is None:
                out.append(f"NO FILTER on {c.column}: refused (the API would be listed in full)")
                continue
            params = dict(res.params)
            path = res.path
            if f.param is not None:
                params[f.param] = "<value>"
            else:
                path = str(f.path).replace("{value}", "<value>")
            query = "&".join(f"{k}={v}" for k, v in params.items())
            each = " for each value" if c.how == "in" else ""
            out.append(f"GET {path}{'?' + query if query else ''}{each} (pages: {p.type})")
        return " OR ".join(out)

    # --- erase ---------------------------------------------------------------------------------------

    def erase(self, changes: Sequence[Change], *, chunk: int) -> None:
        """One request per row, in order; a 404 means the row is gone already."""
        for change in changes:
            res = self._resource(change.table)
            write = res.delete if change.values is None else res.update
            if write is None:
                raise DataMapError(f"source {self.name!r}: resource {change.table!r} has no request to change rows")
            for key in change.keys:
                path = write.path
                for col, v in zip(change.key, key, strict=True):
                    path = path.replace("{" + col + "}", quote(str(v), safe=""))
                if change.values is None:
                    resp = self.session.send(write.method, path)
                elif write.body == "form":
                    form = {k: "" if v is None else str(v) for k, v in change.values.items()}
                    resp = self.session.send(write.method, path, data=form)
                else:
                    resp = self.session.send(write.method, path, json=dict(change.values))
                if resp.status_code >= 300 and not (resp.status_code == 404 and change.values is None):
                    raise unavailable(self.name, HttpStatusError(resp.status_code))

    def explain_erase(self, changes: Sequence[Change], *, chunk: int) -> Iterator[str]:
        for change in changes:
            res = self._resource(change.table)
            write = res.delete if change.values is None else res.update
            if write is None:
                yield f"{change.table}: no request declared"
                continue
            for i in range(0, len(change.keys), chunk):
                n = len(change.keys[i : i + chunk])
                fields = f" setting {', '.join(change.values)}" if change.values is not None else ""
                yield f"{write.method} {write.path}{fields}: {n} request(s), one per row"

    def close(self) -> None:
        self.session.close()


def _next(p: Pagination, body: Any, rows: list[dict[str, Any]], resp: httpx.Response, params: dict[str, str]) -> Any:
    """The next page's cursor, page or offset (or URL for `link`), None when this was the last page."""
    if p.type == "none":
        return None
    if p.type == "link":
        link = resp.links.get("next", {}).get("url")
        return str(link) if link else None
    if not rows:
        return None
    if p.type == "has_more":
        more = at_path(body, p.has_more)
        cursor = rows[-1].get(p.cursor)
        return str(cursor) if more is True and cursor is not None else None
    if p.type == "cursor":
        nxt = at_path(body, str(p.next))
        return str(nxt) if nxt not in (None, "") else None
    if p.size_param and len(rows) < p.size:
        return None  # a short page is the last one
    current = int(params[str(p.param)])
    return str(current + 1) if p.type == "page" else str(current + len(rows))


def _in_window(row: dict[str, Any], since: tuple[str, datetime] | None) -> bool:
    if since is None:
        return True
    at = _instant(row.get(since[0]))
    return at is not None and at >= since[1]


def _sortable(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int | float | str) else (1, repr(value))


def connect(name: str, url: str, spec: HttpSource) -> HttpConnector:
    return HttpConnector(name, url, spec)


__all__ = ["HttpConnector", "HttpStatusError", "at_path", "connect"]
