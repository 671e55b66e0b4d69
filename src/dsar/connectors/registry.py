"""Which adapter serves a data-map source: chosen by the scheme of its URL.

`connect(name, url)` is what the composition root hands to the engine's `Sources`. A new kind of source
registers its factory here (`register("https", ...)`); the engine does not change. `service+https://` is a
company service (`service.py`). Any scheme nobody
registered is taken for a SQLAlchemy URL, as data maps have always used them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from dsar.connectors.base import Connector
from dsar.datamap.model import Source

Factory = Callable[[str, str], Connector]  # (source name, url) -> an open connector

_lock = threading.Lock()
_factories: dict[str, Factory] = {}  # "service" (company services) is registered below


def _sql(name: str, url: str) -> Connector:
    from dsar.connectors.sql import SqlConnector  # SQLAlchemy loads only when a SQL source is used

    return SqlConnector(name, url)


def _service(name: str, url: str) -> Connector:
    from dsar.connectors.service import ServiceConnector  # httpx loads only when a company service is used

    return ServiceConnector(name, url)


def scheme_of(url: str) -> str:
    """`postgresql+psycopg://...` -> `postgresql`."""
    return url.split(":", 1)[0].split("+", 1)[0].strip().lower()


def register(scheme: str, factory: Factory) -> None:
    with _lock:
        _factories[scheme.lower()] = factory


def connect(name: str, url: str) -> Connector:
    """An adapter for the source `name` at `url` (connections open lazily, on first use)."""
    with _lock:
        factory = _factories.get(scheme_of(url), _sql)
    return factory(name, url)


def connect_source(name: str, source: Source) -> Connector:
    """An adapter for a data-map source: its `http:` block makes it a web API, else `connect` by its URL."""
    if source.http is not None:
        from dsar.connectors.http import HttpConnector  # httpx's client is built only for HTTP sources

        return HttpConnector(name, source.url, source.http)
    return connect(name, source.url)


register("service", _service)  # `service+https://...`: docs/company-services.md
