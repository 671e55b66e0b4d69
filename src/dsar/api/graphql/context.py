"""What every resolver gets: the wired services and the authenticated caller."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from starlette.concurrency import run_in_threadpool

from dsar.api.graphql.errors import access_denied, from_domain
from dsar.auth.service import Principal
from dsar.bootstrap import Container
from dsar.errors import DsarError

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class Context:
    container: Container
    principal: Principal
    api_version: str | None = None

    def require(self, scope: str) -> None:
        if scope not in self.principal.scopes:
            raise access_denied()

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a (blocking) service call off the event loop; domain errors become BwP errors."""
        try:
            return await run_in_threadpool(fn, *args, **kwargs)
        except DsarError as exc:
            raise from_domain(exc) from None
