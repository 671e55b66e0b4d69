"""What every resolver gets: the wired services and the authenticated caller."""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter

from dsar.api.graphql.errors import access_denied, from_domain
from dsar.auth.service import Principal
from dsar.bootstrap import Container
from dsar.errors import DsarError

P = ParamSpec("P")
T = TypeVar("T")

# Resolvers' blocking calls (state-database reads and writes) share a few threads rather than anyio's 40:
# under load 40 threads only take turns at the GIL and outgrow the connection pool (SQLite: 5 + 10
# overflow connections, each overflow one opened and closed per request). B6 in docs/performance.md.
_THREADS = 8
_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, CapacityLimiter] = weakref.WeakKeyDictionary()


def _resolver_threads() -> CapacityLimiter:
    """The limiter of the running event loop (tests run several loops; a limiter belongs to one)."""
    loop = asyncio.get_running_loop()
    limiter = _limiters.get(loop)
    if limiter is None:
        limiter = _limiters[loop] = CapacityLimiter(_THREADS)
    return limiter


@dataclass(frozen=True)
class Context:
    container: Container
    principal: Principal
    api_version: str | None = None

    @property
    def max_mutations(self) -> int:
        """Root fields one mutation may run (DSAR_GRAPHQL_MAX_MUTATIONS; the schema's _Mutations reads it)."""
        return self.container.settings.graphql_max_mutations

    def require(self, scope: str) -> None:
        if scope not in self.principal.scopes:
            raise access_denied()

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a (blocking) service call off the event loop; domain errors become BwP errors."""
        try:
            return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs), limiter=_resolver_threads())
        except DsarError as exc:
            raise from_domain(exc) from None

    async def read(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`call` for a service call that makes one short read through `Database.read` and nothing else: on
        a SQLite state it runs right here on the event loop (microseconds, and no hop through a thread that
        then waits for the GIL: B6 in docs/performance.md); on a database server, in a thread like `call`."""
        if not self.container.db.inline_reads:
            return await self.call(fn, *args, **kwargs)
        try:
            return fn(*args, **kwargs)
        except DsarError as exc:
            raise from_domain(exc) from None
