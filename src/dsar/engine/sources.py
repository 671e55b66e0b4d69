"""The data map's sources as connectors, opened lazily and shared by all tasks of a process."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from dsar.connectors import registry
from dsar.connectors.base import Connector
from dsar.datamap.model import DataMap, Source

Connect = Callable[[str, str], Connector]  # (source name, url) -> connector; `dsar.connectors.registry.connect`
ConnectSource = Callable[[str, Source], Connector]  # for sources declared beyond a URL (an `http:` block)


class Sources:
    """One connector per source of the data map, made by `connect` on first use, and the reader threads."""

    def __init__(self, dm: DataMap, connect: Connect, connect_source: ConnectSource = registry.connect_source) -> None:
        self._dm = dm
        self._connect = connect
        self._connect_source = connect_source
        self._lock = threading.Lock()
        self._sources: dict[str, Connector] = {}
        self._pool: ThreadPoolExecutor | None = None

    def pool(self, parallelism: int) -> ThreadPoolExecutor:
        """Reader threads shared by all tasks of the process (starting threads per task costs milliseconds)."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=max(2 * parallelism, 4), thread_name_prefix="dsar-read")
            return self._pool

    def get(self, name: str) -> Connector:
        with self._lock:
            src = self._sources.get(name)
            if src is None:
                spec = self._dm.sources[name]
                made = self._connect(name, spec.url) if spec.http is None else self._connect_source(name, spec)
                src = self._sources[name] = made
            return src

    def dispose(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
            for src in self._sources.values():
                src.close()
            self._sources.clear()
