"""What every resolver gets: the wired services and the authenticated caller."""

from __future__ import annotations

from dataclasses import dataclass

from dsar.auth.service import Principal
from dsar.bootstrap import Container


@dataclass(frozen=True)
class Context:
    container: Container
    principal: Principal
    api_version: str | None = None

    def require(self, scope: str) -> None:
        from dsar.api.graphql.errors import access_denied

        if scope not in self.principal.scopes:
            raise access_denied()
