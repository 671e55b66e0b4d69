"""One contract, every adapter of the jobs port: the in-process runner, Celery on Redis (the real broker, a
queue of its own) and the eager runner of unit tests. (Celery on RabbitMQ runs in tests/e2e/test_celery.py:
stopping an in-process consumer of RabbitMQ takes minutes, too long for a contract run per test.)

Each adapter is assembled as the product assembles it around a `TaskWorker` over a real state database: the
in-process runner's worker threads and heartbeat; Celery's sender, consumer (in this process) and the
workers' sweeper; the eager runner's synchronous runs. A handler registered for a channel of its own stands
for the work of a task.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from dsar.db.engine import Database, make_engine
from dsar.db.migrate import upgrade
from dsar.jobs.base import JobRunner
from dsar.jobs.eager import EagerRunner
from dsar.jobs.inprocess import InProcessRunner, Loop
from dsar.kit.clock import SystemClock
from dsar.kit.ids import new_id
from dsar.storage.base import StorageUnavailable
from dsar.tasks import repository as repo
from dsar.tasks.contract import TaskJob
from dsar.tasks.jobs import TaskWorker
from dsar.tasks.models import COMPLETED, FAILED, IN_PROGRESS, RETRIEVAL, PrivacyTask
from tests.conftest import need

CHANNEL = "contract"
LEASE = timedelta(seconds=1)
MAX_ATTEMPTS = 3
BROKERS = {"celery-redis": ("redis", "redis://127.0.0.1:6379/14")}
ADAPTERS = ["inprocess", "celery-redis", "eager"]


@dataclass
class Jobs:
    """An adapter under test, its worker and what the handler saw."""

    runner: JobRunner
    worker: TaskWorker
    calls: Counter[str] = field(default_factory=Counter)
    behave: Callable[[TaskJob], object] = lambda job: job.finish(COMPLETED, None, None)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, job: TaskJob) -> None:
        with self.lock:
            self.calls[job.ref.id] += 1
        self.behave(job)

    def submit(self) -> str:
        """A due retrieval task for this channel, committed, then handed to the runner."""
        task_id = self.insert()
        self.runner.notify(task_id)
        return task_id

    def insert(self, leased_by: str | None = None) -> str:
        """A due retrieval task for this channel, committed (the runner is not told); `leased_by`: a worker
        claimed it in the same transaction (and will die)."""
        task_id = new_id()
        now = self.worker.clock.now()
        with self.worker.db.session() as s:
            s.add(
                PrivacyTask(
                    id=task_id,
                    tenant="t1",
                    kind=RETRIEVAL,
                    channel=CHANNEL,
                    subject_email="a@example.com",
                    subject_ref="r",
                    status=IN_PROGRESS,
                    errors=[],
                    submitted_at=now,
                    updated_at=now,
                    due_at=now,
                    attempts=0 if leased_by is None else 1,
                    lease_owner=leased_by,
                    lease_expires=None if leased_by is None else now + LEASE,
                )
            )
        return task_id

    def task(self, task_id: str) -> PrivacyTask:
        with self.worker.db.session(write=False) as s:
            t = s.get(PrivacyTask, task_id)
            assert t is not None
            return t

    def wait_final(self, *task_ids: str, timeout: float = 30.0) -> list[PrivacyTask]:
        deadline = time.monotonic() + timeout
        while True:
            tasks = [self.task(t) for t in task_ids]
            if all(t.status != IN_PROGRESS for t in tasks):
                return tasks
            assert time.monotonic() < deadline, [(t.status, t.attempts, t.lease_owner) for t in tasks]
            time.sleep(0.05)


def _worker(db: Database, tmp_path: Path, jobs_handler: Callable[[TaskJob], None]) -> TaskWorker:
    return TaskWorker(
        db=db,
        clock=SystemClock(),
        storage=None,  # type: ignore[arg-type]  # the contract's handler stores nothing
        datamap=None,  # type: ignore[arg-type]
        plan=None,  # type: ignore[arg-type]
        sources=None,  # type: ignore[arg-type]
        engine=None,  # type: ignore[arg-type]
        work_dir=tmp_path / "work",
        lease=LEASE,
        max_attempts=MAX_ATTEMPTS,
        retry_delay=timedelta(0),
        handlers={(CHANNEL, RETRIEVAL): jobs_handler},
    )


@contextlib.contextmanager
def _celery(worker: TaskWorker, url: str) -> Iterator[JobRunner]:
    """`dsar worker` in celery mode, in this process: the consumer runs `run_if_free`; a background runner
    renews leases and sweeps overdue tasks back into the queue."""
    from celery.contrib.testing.worker import TestWorkController

    from dsar.jobs import celery as jobs_celery
    from tests import stack

    queue = "dsar-contract-" + secrets.token_hex(6)
    app = jobs_celery.create_celery(url, queue)
    sender = jobs_celery.CeleryRunner(app, queue)
    sweep = jobs_celery.sweeper(sender.send, worker.overdue, timedelta(seconds=0.3))
    background = InProcessRunner(
        worker.claim,
        worker.run,
        worker.heartbeat,
        workers=0,
        poll_seconds=0.1,
        heartbeat_seconds=0.3,
        loops=[Loop("sweeper", sweep)],
    )

    def handle(task_id: str) -> object:
        return worker.run_if_free(task_id, f"{background.owner}/c{threading.get_ident()}")

    controller: Any = None
    thread: threading.Thread | None = None
    if stack._worker is not None:  # the scale stack's session worker consumes every queue of this process
        stack._worker.attach(queue, handle)
    else:
        jobs_celery.register(app, handle)
        app.set_current()
        app.set_default()  # Celery's thread pool runs tasks against the default app
        controller = TestWorkController(
            app=app,
            hostname=f"dsar-contract-{secrets.token_hex(4)}@localhost",
            pool="threads",
            concurrency=2,
            queues=[queue],
            loglevel="WARNING",
            ready_callback=None,
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
        )
        thread = threading.Thread(target=controller.start, name="dsar-contract-celery", daemon=True)
        thread.start()
        controller.ensure_started()
    background.start()
    try:
        yield sender
    finally:
        background.stop()
        if controller is not None and thread is not None:
            controller.stop(in_sighandler=False)
            thread.join(30)
        elif stack._worker is not None:
            stack._worker.detach(queue)
        stack.delete_queue(app, queue)


@pytest.fixture(params=ADAPTERS)
def jobs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Jobs]:
    kind = str(request.param)
    if kind in BROKERS:
        need(BROKERS[kind][0])
    db = Database(make_engine(f"sqlite:///{tmp_path / 'state.sqlite3'}"))
    upgrade(db.engine)
    box: list[Jobs] = []
    worker = _worker(db, tmp_path, lambda job: box[0].handle(job))
    with contextlib.ExitStack() as stack_:
        runner: JobRunner
        if kind == "inprocess":
            runner = InProcessRunner(
                worker.claim, worker.run, worker.heartbeat, workers=2, poll_seconds=0.05, heartbeat_seconds=0.3
            )
        elif kind == "eager":
            runner = EagerRunner(worker.run_if_free)
        else:
            runner = stack_.enter_context(_celery(worker, BROKERS[kind][1]))
        box.append(Jobs(runner, worker))
        runner.start()
        stack_.callback(runner.stop)
        yield box[0]
    db.dispose()


def test_a_submitted_task_runs_exactly_once(jobs: Jobs) -> None:
    ids = [jobs.submit() for _ in range(6)]
    for task_id in ids[:3]:
        jobs.runner.notify(task_id)  # a duplicate message is harmless: the lease decides who runs
    tasks = jobs.wait_final(*ids)
    assert [t.status for t in tasks] == [COMPLETED] * len(ids)
    time.sleep(LEASE.total_seconds() + 0.5)  # past any lease: a second run would have happened by now
    assert [jobs.calls[t] for t in ids] == [1] * len(ids)


def test_a_crashing_task_is_retried_then_failed_after_max_attempts(jobs: Jobs) -> None:
    def crash(_job: TaskJob) -> None:
        raise RuntimeError("a bug")

    jobs.behave = crash
    (task,) = jobs.wait_final(jobs.submit())
    assert task.status == FAILED and task.errors[0]["code"] == "INTERNAL_ERROR"
    assert task.lease_owner is None
    assert jobs.calls[task.id] == MAX_ATTEMPTS


def test_an_expired_lease_lets_another_worker_take_over(jobs: Jobs) -> None:
    task_id = jobs.insert(leased_by="dead-worker")  # it dies at once: nobody renews its lease
    jobs.runner.notify(task_id)  # while the dead worker's lease holds, nothing runs
    assert jobs.calls[task_id] == 0
    time.sleep(LEASE.total_seconds() + 0.2)
    jobs.runner.notify(task_id)
    (task,) = jobs.wait_final(task_id)
    assert jobs.calls[task_id] == 1
    assert task.attempts == 2  # the dead worker's attempt and ours


def test_finish_if_owner_refuses_a_stale_owner(jobs: Jobs) -> None:
    results: list[bool] = []

    def lose_the_lease(job: TaskJob) -> None:
        with job.session() as s:  # our lease lapses and another worker takes the task over
            repo.release(s, job.ref.id, job.ref.owner, job.now())
            assert repo.claim_next(s, "new-owner", job.now(), timedelta(hours=1), job.ref.id) == job.ref.id
        results.append(job.finish(COMPLETED, None, None))

    jobs.behave = lose_the_lease
    task_id = jobs.submit()
    deadline = time.monotonic() + 30
    while not results:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert results == [False]
    task = jobs.task(task_id)
    assert (task.status, task.lease_owner) == (IN_PROGRESS, "new-owner")
    with jobs.worker.db.session() as s:
        assert repo.finish(s, task_id, "new-owner", jobs.worker.clock.now(), COMPLETED)


def test_outages_are_retried_without_counting_as_attempts(jobs: Jobs) -> None:
    outages = MAX_ATTEMPTS + 1  # more outages than attempts allowed: none of them counts

    def flaky(job: TaskJob) -> None:
        if jobs.calls[job.ref.id] <= outages:
            raise StorageUnavailable("the object store is down")
        job.finish(COMPLETED, None, None)

    jobs.behave = flaky
    task_id = jobs.submit()
    deadline = time.monotonic() + 30
    while jobs.task(task_id).status == IN_PROGRESS:
        assert time.monotonic() < deadline
        if isinstance(jobs.runner, EagerRunner):  # it runs only when told (the others retry by themselves)
            jobs.runner.notify(task_id)
        time.sleep(0.05)
    task = jobs.task(task_id)
    assert (task.status, task.attempts) == (COMPLETED, 1)
    assert jobs.calls[task_id] == outages + 1
