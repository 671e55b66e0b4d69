"""The jobs port. The state database is the truth; a runner only says "look at task X".

Adapters: `inprocess.InProcessRunner` (worker threads claiming from the state database), `celery.CeleryRunner`
(messages to Redis or RabbitMQ; `dsar worker` processes consume them), `eager.EagerRunner` (runs in the
caller's thread: unit tests), and `NoRunner` below. Whatever the adapter, a task runs under a lease
(`dsar.db.lease`): once at a time, retried after a crash until its attempts run out, taken over when its
lease expires, finished only by the lease's holder; an outage (`dsar.errors.Unavailable`) gives the attempt
back. tests/contract/test_jobs.py holds every adapter to this.
"""

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
