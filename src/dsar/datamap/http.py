"""The data map's HTTP sources: a source with an `http:` block is read through a web API, not SQL.

```yaml
sources:
  stripe:
    url: ${STRIPE_API_URL}                 # base URL, e.g. https://api.stripe.com
    http:
      definition: stripe                   # start from a definition shipped with dsar (optional)
      auth: {type: bearer, token: "${STRIPE_SECRET_KEY}"}
      resources:                           # one per table a collection names
        customers:
          path: /v1/customers
          rows: data                       # where the rows are in the JSON body
          columns: {id: string, email: string, name: string}
          filters: {email: {param: email}} # the lookups the API can do: column -> query parameter or path
          pagination: {type: has_more, param: starting_after, cursor: id}
          delete: {path: "/v1/customers/{id}"}
```

Secrets (tokens, passwords, client secrets, API keys) are only ever `${ENV_VAR}` references, replaced
when the data map is loaded; a literal secret is refused with its line. A lookup the API cannot filter
on is refused by `dsar datamap check`, never paged through.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from dsar.datamap.model import DataMap

_ENV_ONLY = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
SECRETS = {"bearer": ("token",), "basic": ("password",), "header": ("value",), "oauth2": ("client_secret",)}
ColumnType = Literal["string", "integer", "number", "boolean", "object", "array", "any"]
Loc = tuple[str | int, ...]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Auth(_Strict):
    """bearer: `Authorization: Bearer <token>`; basic: user and password; header: `<name>: <value>` (an API key);
    oauth2: the client-credentials grant at `token_url`, its access token sent as a bearer token."""

    type: Literal["bearer", "basic", "header", "oauth2", "none"]
    token: str | None = Field(None, repr=False)  # secrets: `${ENV_VAR}` in the file, never in a repr or log
    username: str | None = None
    password: str | None = Field(None, repr=False)
    name: str | None = Field(None, description="header name for `type: header`, e.g. X-Api-Key")
    value: str | None = Field(None, repr=False)
    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = Field(None, repr=False)
    scope: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> Auth:
        need = {
            "bearer": ("token",),
            "basic": ("username", "password"),
            "header": ("name", "value"),
            "oauth2": ("token_url", "client_id", "client_secret"),
            "none": (),
        }[self.type]
        missing = [f for f in need if getattr(self, f) is None]
        if missing:
            raise ValueError(f"`auth: {{type: {self.type}}}` needs {', '.join(missing)}")
        return self


class Filter(_Strict):
    """How the API finds rows by one column's value: a query parameter, or a path template with `{value}`."""

    param: str | None = None
    path: str | None = Field(None, description='e.g. "/v1/customers/{value}"; a 404 there means no rows')
    rows: str | None = Field(None, description="where this lookup's rows are (default: the resource's)")

    @model_validator(mode="after")
    def _one(self) -> Filter:
        if (self.param is None) == (self.path is None):
            raise ValueError("give one of `param` or `path`")
        if self.path is not None and "{value}" not in self.path:
            raise ValueError("`path` must hold `{value}`")
        return self


class Pagination(_Strict):
    """none; has_more (Stripe: `param=<cursor field of the last row>` while the body's `has_more` is true);
    cursor (`param=<the body's next cursor>` while there is one); page (`param` counts pages from `start`);
    offset (`param` counts rows); link (follow the `Link: <...>; rel="next"` header)."""

    type: Literal["none", "has_more", "cursor", "page", "offset", "link"] = "none"
    param: str | None = None
    cursor: str = Field("id", description="has_more: the row field whose last value is the next cursor")
    has_more: str = Field("has_more", description="has_more: where the flag is in the body")
    next: str | None = Field(None, description="cursor: where the next cursor is in the body, e.g. meta.next")
    size_param: str | None = Field(None, description="the page size parameter, e.g. limit or per_page")
    size: int = Field(100, ge=1, le=10_000)
    start: int = Field(1, ge=0, description="page: the first page's number")

    @model_validator(mode="after")
    def _complete(self) -> Pagination:
        if self.type in ("has_more", "cursor", "page", "offset") and self.param is None:
            raise ValueError(f"`type: {self.type}` needs `param`")
        if self.type == "cursor" and self.next is None:
            raise ValueError("`type: cursor` needs `next` (where the next cursor is in the body)")
        return self


class Write(_Strict):
    """One request per row: `path` holds the row's key columns as `{column}`; an update sends the new values."""

    method: Literal["DELETE", "POST", "PUT", "PATCH"] = "DELETE"
    path: str
    body: Literal["form", "json"] = "json"


class Resource(_Strict):
    """What a table is in the API: the request that lists its rows, their columns, lookups and erasure."""

    path: str = Field(description="request path under the source's url, e.g. /v1/charges")
    rows: str = Field("", description="dotted path to the rows in the JSON body; empty: the body itself")
    columns: dict[str, ColumnType] = Field(min_length=1, description="exported fields of a row and their JSON type")
    filters: dict[str, Filter] = Field(default_factory=dict, description="column -> how the API filters on it")
    params: dict[str, str] = Field(default_factory=dict, description="fixed query parameters, e.g. type: card")
    pagination: Pagination | None = Field(None, description="the source's `pagination` when omitted")
    delete: Write | None = None
    update: Write | None = None


class HttpSource(_Strict):
    definition: str | None = Field(None, description="a definition shipped with dsar to start from, e.g. stripe")
    auth: Auth = Auth(type="none")
    ping: str | None = Field(None, description="a path whose GET proves the source is up and the credentials work")
    timeout_seconds: float = Field(10.0, gt=0, le=300)
    retries: int = Field(4, ge=0, le=20, description="retries of a request answered 429 or 503, or that failed")
    backoff_seconds: float = Field(0.5, ge=0, le=60, description="first wait when no Retry-After says")
    max_wait_seconds: float = Field(30.0, ge=0, le=600, description="longest wait a Retry-After may impose")
    max_requests: int = Field(500, ge=1, description="requests one retrieval may send to this source")
    pagination: Pagination = Pagination()
    headers: dict[str, str] = Field(default_factory=dict, description="sent with every request (no secrets)")
    resources: dict[str, Resource] = Field(default_factory=dict)

    def pagination_of(self, resource: Resource) -> Pagination:
        return resource.pagination or self.pagination


def definition(name: str) -> dict[str, Any]:
    """The `http:` block of a shipped definition (src/dsar/datamap/definitions/<name>.yaml)."""
    if not re.fullmatch(r"[a-z0-9_]+", name):
        raise KeyError(name)
    try:
        text = resources.files("dsar.datamap").joinpath("definitions", f"{name}.yaml").read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeyError(name) from None
    raw = yaml.safe_load(text)
    return dict(raw["http"])


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def prepare(
    raw_sources: Any, env: Mapping[str, str], filename: str, line_for: Callable[[Loc], int], problems: list[str]
) -> None:
    """Before validation, in place: merge each `http:` block over its shipped definition, and replace its
    secrets, which must be `${ENV_VAR}` references, from `env` (literal secrets and unset variables are problems)."""
    for name, src in (raw_sources if isinstance(raw_sources, dict) else {}).items():
        http = src.get("http") if isinstance(src, dict) else None
        if not isinstance(http, dict):
            continue
        at = f"{filename}:{line_for(('sources', name, 'http'))}: sources.{name}.http"
        if isinstance(http.get("definition"), str):
            try:
                http = src["http"] = _merge(definition(http["definition"]), http)
            except KeyError:
                problems.append(f"{at}.definition: no definition {http['definition']!r} ships with dsar; use stripe")
                continue
        auth = http.get("auth")
        if not isinstance(auth, dict):
            continue
        for field in SECRETS.get(str(auth.get("type")), ()):
            value = auth.get(field)
            if value is None:
                continue
            line = line_for(("sources", name, "http", "auth", field))
            m = _ENV_ONLY.match(str(value))
            if m is None:
                problems.append(
                    f"{filename}:{line}: sources.{name}.http.auth.{field}: write the secret as ${{ENV_VAR}} and set "
                    "that variable; secrets are never written in the data map"
                )
            elif m.group(1) not in env:
                problems.append(
                    f"{filename}:{line}: sources.{name}.http.auth.{field} uses ${{{m.group(1)}}}, which is not set; "
                    "set the environment variable"
                )
            else:
                auth[field] = env[m.group(1)]
        for field in ("username", "client_id"):  # not secret, but often kept beside the secret
            m = _ENV_ONLY.match(str(auth.get(field, "")))
            if m is not None and m.group(1) in env:
                auth[field] = env[m.group(1)]


def cross_check(dm: DataMap, filename: str, line_for: Callable[[Loc], int]) -> list[str]:
    """Each collection of an HTTP source names a declared resource that can do what its erasure asks."""
    out: list[str] = []
    for name, src in dm.sources.items():
        http = src.http
        scheme = src.url.split(":", 1)[0].lower()
        at = f"{filename}:{line_for(('sources', name, 'url'))}: sources.{name}"
        if http is None:
            if scheme in ("http", "https"):
                out.append(f"{at}.url: an http(s) source needs an `http:` block (auth, resources); see docs/datamap.md")
            continue
        if scheme not in ("http", "https"):
            out.append(f"{at}.url: an HTTP source's url is its base URL (http:// or https://)")
    for key, coll in dm.collections.items():
        source = dm.sources.get(dm.source_of(key))
        if source is None or source.http is None:
            continue
        at = f"{filename}:{line_for(('collections', key))}: collections.{key}"
        res = source.http.resources.get(dm.table_of(key))
        if res is None:
            table = dm.table_of(key)
            out.append(f"{at}: source {dm.source_of(key)!r} declares no resource {table!r} under http.resources")
            continue
        action = coll.erasure_action()
        if action == "delete" and res.delete is None:
            out.append(f"{at}: erasure deletes rows but resource {dm.table_of(key)!r} has no `delete` request")
        if action == "mask" and res.update is None:
            out.append(f"{at}: erasure masks rows but resource {dm.table_of(key)!r} has no `update` request")
    return out
