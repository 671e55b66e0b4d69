"""The embedded runner: worker threads that claim due tasks from the state database.

A claim is a lease in the database, renewed by a heartbeat. A worker that dies (even kill -9)
stops renewing, its lease expires, and any runner picks the task up again.

Background loops (periodic jobs, reading uploaded batches) each get a thread of their own that calls
`step(owner, stopping)` every poll interval, or at once again while `step` reports it did some work;
a loop that asks for it is also woken by `notify`. A long step checks `stopping()` between units of
work and returns early when the runner stops.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dsar import log
from dsar.db.outage import as_unavailable
from dsar.errors import is_outage
from dsar.kit.ids import new_secret

_log = log.get("dsar.jobs")

Step = Callable[[str, Callable[[], bool]], bool]


@dataclass(frozen=True)
class Loop:
    """A background loop: `step(owner, stopping)` returns whether it did work (then it is called again at once)."""

    name: str
    step: Step
    woken_by_notify: bool = False


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
        loops: Sequence[Loop | tuple[str, Step]] = (),
    ) -> None:
        self.owner = f"{socket.gethostname()[:24]}:{os.getpid()}:{new_secret(6)}"
        self._claim, self._run, self._heartbeat = claim, run, heartbeat
        self._workers, self._poll, self._beat = workers, poll_seconds, heartbeat_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        # A bare (name, step) is woken by every notify, as the first version of this interface did.
        self._loops = [
            (loop if isinstance(loop, Loop) else Loop(loop[0], loop[1], woken_by_notify=True), threading.Event())
            for loop in loops
        ]

    def notify(self, task_id: str) -> None:
        self._wake.set()
        for loop, wake in self._loops:
            if loop.woken_by_notify:
                wake.set()

    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        for i in range(self._workers):
            t = threading.Thread(target=self._loop, args=(f"{self.owner}/{i}",), name=f"dsar-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        hb = threading.Thread(target=self._beat_loop, name="dsar-heartbeat", daemon=True)
        hb.start()
        self._threads.append(hb)
        for loop, wake in self._loops:
            t = threading.Thread(target=self._background, args=(loop, wake), name=f"dsar-{loop.name}", daemon=True)
            t.start()
            self._threads.append(t)
        self._wake.set()  # look for work left by an earlier run right away

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        for _loop, wake in self._loops:
            wake.set()
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()

    def _loop(self, owner: str) -> None:
        # Each thread claims under its own owner id (renewed by the process heartbeat as a prefix): a task whose
        # lease lapsed while it ran is never taken over by another thread of this process under the same id.
        while not self._stop.is_set():
            self._wake.clear()  # before looking: a notify from now on is not lost
            try:
                task_id = self._claim(owner)
            except Exception as exc:
                (_log.warning if _outage(exc) else _log.error)("claim_failed", error=type(exc).__name__)
                task_id = None
            if task_id is None:
                self._wake.wait(self._poll)
                continue
            self._wake.set()  # there may be more: let another idle worker look too
            try:
                self._run(task_id, owner)
            except Exception as exc:  # the task handler records failures itself; this is a last resort
                _log.error("task_crashed", task_id=task_id, error=type(exc).__name__)

    def _beat_loop(self) -> None:
        while not self._stop.wait(self._beat):
            try:
                self._heartbeat(self.owner)
            except Exception as exc:
                (_log.warning if _outage(exc) else _log.error)("heartbeat_failed", error=type(exc).__name__)

    def _background(self, loop: Loop, wake: threading.Event) -> None:
        while not self._stop.is_set():
            wake.clear()
            try:
                busy = loop.step(self.owner, self._stop.is_set)
            except Exception as exc:
                if _outage(exc):  # the state database, broker or storage is down: retried, not a bug
                    _log.warning("background_step_unavailable", loop=loop.name, error=type(exc).__name__)
                else:
                    _log.error("background_step_failed", loop=loop.name, error=type(exc).__name__)
                busy = False
            if not busy:
                wake.wait(self._poll)


def _outage(exc: BaseException) -> bool:
    """A service that is down or unreachable, rather than a bug: what an adapter raised as `Unavailable`
    (storage, broker, a source), or the state database's disconnect (by SQLAlchemy's classification)."""
    return is_outage(exc) or as_unavailable(exc) is not None
