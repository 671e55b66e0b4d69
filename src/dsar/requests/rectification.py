"""Rectification requests (GDPR Art. 16, CCPA §1798.106): new values checked against the data map and the
sources' columns before a task starts, so a bad value is refused at once and nothing changes. The task (and,
through the tasks' `on_open` hook, its privacy request) then runs like a deletion; the job checks again."""

from __future__ import annotations

from collections.abc import Callable

from dsar.datamap.model import DataMap
from dsar.engine.execute import Sources
from dsar.engine.rectify import check
from dsar.tasks.service import PrivacyTasks

__all__ = ["RectificationRequests"]


class RectificationRequests:
    def __init__(self, tasks: PrivacyTasks, datamap: Callable[[], DataMap], sources: Callable[[], Sources]) -> None:
        self.tasks, self.datamap, self.sources = tasks, datamap, sources

    def start(
        self,
        tenant: str,
        email: str,
        values: dict[str, str | None],
        client_token: str | None = None,
        *,
        channel: str = "bwp",
        jurisdiction: str | None = None,
        where: str = "",
    ) -> str:
        """The task's id; `InvalidInput` (naming fields and types, never values; each issue prefixed with `where`)
        when a value does not fit."""
        check(self.datamap(), self.sources(), values, where)
        return self.tasks.start_rectification(tenant, email, values, client_token, channel, jurisdiction)
