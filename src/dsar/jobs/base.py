"""The jobs port. The state database is the truth; a runner only says "look at task X"."""

from __future__ import annotations

from typing import Protocol


class JobRunner(Protocol):
    def notify(self, task_id: str) -> None:
        """Called after a commit that made a task due; must not block."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class NoRunner:
    """For API processes that leave the work to `dsar worker` processes polling the same database."""

    def notify(self, task_id: str) -> None:
        return None

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None
