"""The embedded runner: worker threads that claim due tasks from the state database.

A claim is a lease in the database, renewed by a heartbeat. A worker that dies (even kill -9)
stops renewing, its lease expires, and any runner picks the task up again.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable

from dsar import log
from dsar.kit.ids import new_secret

_log = log.get("dsar.jobs")


class InProcessRunner:
    def __init__(
        self,
        claim: Callable[[str], str | None],
        run: Callable[[str, str], None],
        heartbeat: Callable[[str], None],
        *,
        workers: int = 2,
        poll_seconds: float = 1.0,
        heartbeat_seconds: float = 10.0,
    ) -> None:
        self.owner = f"{socket.gethostname()[:24]}:{os.getpid()}:{new_secret(6)}"
        self._claim, self._run, self._heartbeat = claim, run, heartbeat
        self._workers, self._poll, self._beat = workers, poll_seconds, heartbeat_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def notify(self, task_id: str) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        for i in range(self._workers):
            t = threading.Thread(target=self._loop, name=f"dsar-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        hb = threading.Thread(target=self._beat_loop, name="dsar-heartbeat", daemon=True)
        hb.start()
        self._threads.append(hb)
        self._wake.set()  # look for work left by an earlier run right away

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # before looking: a notify from now on is not lost
            try:
                task_id = self._claim(self.owner)
            except Exception as exc:
                _log.error("claim_failed", error=type(exc).__name__)
                task_id = None
            if task_id is None:
                self._wake.wait(self._poll)
                continue
            self._wake.set()  # there may be more: let another idle worker look too
            try:
                self._run(task_id, self.owner)
            except Exception as exc:  # the task handler records failures itself; this is a last resort
                _log.error("task_crashed", task_id=task_id, error=type(exc).__name__)

    def _beat_loop(self) -> None:
        while not self._stop.wait(self._beat):
            try:
                self._heartbeat(self.owner)
            except Exception as exc:
                _log.error("heartbeat_failed", error=type(exc).__name__)
