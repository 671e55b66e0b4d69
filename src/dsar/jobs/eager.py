"""The eager runner, for unit tests: a notified task runs at once, in the caller's thread.

`notify` runs due tasks until none is left (a task released for a retry that is already due runs again
in the same call; one whose retry lies ahead waits for the next `notify`). A handler that notifies
again (a task that starts others) does not recurse: the outer call runs the new work once it returns.
Nothing runs in the background: no heartbeat, no sweeper, no periodic loop.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from dsar.kit.ids import new_secret

MAX_RUNS = 10_000  # per notify: a guard against a task that never stops being due


class EagerRunner:
    def __init__(self, run_if_free: Callable[[str, str], bool]) -> None:
        """`run_if_free(task_id, owner)`: claim the most urgent due task and run it; False if none was due."""
        self.owner = f"eager:{os.getpid()}:{new_secret(6)}"
        self._run_if_free = run_if_free
        self._local = threading.local()

    def notify(self, task_id: str) -> None:
        if getattr(self._local, "running", False):
            self._local.again = True  # called from a handler: the loop below goes on once it returns
            return
        self._local.running = True
        try:
            for _ in range(MAX_RUNS):
                self._local.again = False
                if not self._run_if_free(task_id, self.owner) and not self._local.again:
                    return
        finally:
            self._local.running = False

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None


__all__ = ["EagerRunner"]
