"""The data map's `portability:` section: which collections each Data Portability scope covers.

```yaml
portability:
  scopes:
    portability-physical-orders:
      description: Orders you placed
      collections:
        shop.orders: {timestamp: placed_at}        # the history window filters on this column
        shop.order_items: {}                       # no timestamp: every row reached from the scope
    portability-physical-order-returns:
      collections:
        shop.orders: {timestamp: placed_at, where: {status: [returned]}}   # only rows with these values
```
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    from dsar.datamap.model import DataMap

SCOPE_ID = r"^portability-[a-z0-9]+(-[a-z0-9]+)*$"
_IDENT = r"^[A-Za-z_][A-Za-z0-9_]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ScopeCollection(_Strict):
    timestamp: str | None = Field(
        None, pattern=_IDENT, description="column the user's history window (last N days, since a date) filters on"
    )
    where: dict[str, list[str | int | bool]] = Field(
        default_factory=dict, description="only rows whose column holds one of the values (e.g. status: [returned])"
    )


class PortabilityScope(_Strict):
    description: str = ""
    collections: dict[str, ScopeCollection] = Field(min_length=1)


class PortabilitySection(_Strict):
    scopes: dict[str, PortabilityScope] = Field(default_factory=dict)

    @field_validator("scopes")
    @classmethod
    def _scope_ids(cls, v: dict[str, PortabilityScope]) -> dict[str, PortabilityScope]:
        import re

        for name in v:
            if not re.fullmatch(SCOPE_ID, name):
                raise ValueError(f"{name!r} is not a scope id: use `portability-<kebab-case>`")
        return v


def cross_check(dm: DataMap, filename: str, line_for: Callable[[tuple[Any, ...]], int]) -> list[str]:
    """Problems of the section against the rest of the map: unknown collections or where-columns."""
    section = dm.portability
    if section is None:
        return []
    out: list[str] = []
    for scope_id, scope in section.scopes.items():
        for key, spec in scope.collections.items():
            loc = ("portability", "scopes", scope_id, "collections", key)
            at = f"{filename}:{line_for(loc)}: portability.scopes.{scope_id}.collections.{key}"
            if key not in dm.collections:
                out.append(f"{at}: not a collection of this data map; use one of {sorted(dm.collections)}")
                continue
            coll = dm.collections[key]
            if spec.timestamp is not None and spec.timestamp in coll.exclude:
                out.append(f"{at}.timestamp: {spec.timestamp!r} is excluded from exports; pick another column")
            for col in spec.where:
                if col in coll.exclude:
                    out.append(f"{at}.where.{col}: the column is excluded from exports; it cannot filter rows")
    return out


def timestamp_columns(dm: DataMap) -> Mapping[str, set[str]]:
    """collection key -> timestamp columns that scopes filter on (`dsar datamap check` looks them up)."""
    out: dict[str, set[str]] = {}
    if dm.portability is None:
        return out
    for scope in dm.portability.scopes.values():
        for key, spec in scope.collections.items():
            if spec.timestamp:
                out.setdefault(key, set()).add(spec.timestamp)
    return out
