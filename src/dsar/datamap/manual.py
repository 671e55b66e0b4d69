"""Manual sources: systems with no API, searched by a person (docs/manual-sources.md).

A source with a `manual:` block names a respondent (a colleague or an outside vendor, by e-mail). A retrieval or
deletion that reaches the source asks the respondent, through a signed link, to upload what the system holds
about the subject (CSV or JSON) or to attest that it holds nothing (or, for a deletion, that it erased it).
The respondent is reminded every `remind_every_days`; after `deadline_days` the policy `on_timeout` decides:
`block` ends the task with `MANUAL_STEP_OVERDUE`, `complete_without` completes it and the archive says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MANUAL_URL = "manual:"  # the url of a manual source, filled in when the data map leaves it out
Loc = tuple[str | int, ...]


class ManualSource(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    respondent: str = Field(
        pattern=r"^[^@\s]+@[^@\s]+$", description="the e-mail address of the person who searches this system"
    )
    instructions: str = Field("", max_length=2000, description="what to search and how, shown to the respondent")
    remind_every_days: int = Field(3, ge=1, le=90, description="a reminder goes out every this many days")
    deadline_days: int = Field(14, ge=1, le=365, description="days the respondent has before `on_timeout` applies")
    on_timeout: Literal["block", "complete_without"] = Field(
        "block",
        description="block: the task fails with MANUAL_STEP_OVERDUE; complete_without: it completes without "
        "this source and the archive says so",
    )


def prepare(sources: Any) -> None:
    """A manual source may leave out `url`: it gets `manual:` (before the model is validated)."""
    for src in (sources if isinstance(sources, dict) else {}).values():
        if isinstance(src, dict) and "manual" in src and "url" not in src:
            src["url"] = MANUAL_URL


def cross_check(dm: Any, filename: str, line_for: Callable[[Loc], int]) -> list[str]:
    """A manual source holds no collections (a person answers for it) and is not also an HTTP source."""
    out: list[str] = []
    manual = {name for name, src in dm.sources.items() if src.manual is not None}
    for name in sorted(manual):
        src = dm.sources[name]
        at = f"{filename}:{line_for(('sources', name))}: sources.{name}"
        if src.http is not None:
            out.append(f"{at}: a source is either `manual:` or `http:`, not both")
        if src.url != MANUAL_URL:
            out.append(f"{at}.url: a manual source has no url (leave it out)")
    for key in dm.collections:
        if dm.source_of(key) in manual:
            at = f"{filename}:{line_for(('collections', key))}: collections.{key}"
            out.append(f"{at}: source {dm.source_of(key)!r} is manual; a person answers for it, remove the collection")
    return out
