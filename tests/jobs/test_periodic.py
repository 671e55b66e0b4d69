"""Durable periodic jobs on SQLite and PostgreSQL: once per schedule across runners, take-over after a crash."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from dsar.db.engine import Database, make_engine
from dsar.db.migrate import upgrade
from dsar.jobs import periodic
from dsar.jobs.inprocess import InProcessRunner, Loop
from dsar.jobs.periodic import PeriodicJobRow, PeriodicJobs, Schedule
from dsar.kit.clock import FrozenClock

HOUR = timedelta(hours=1)


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'state.sqlite3'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    database = Database(make_engine(url))
    upgrade(database.engine)
    yield database
    database.dispose()


def test_a_due_job_runs_once_across_many_runners(db: Database) -> None:
    clock = FrozenClock()
    runs: list[datetime] = []
    lock = threading.Lock()

    def job(now: datetime) -> None:
        with lock:
            runs.append(now)

    replicas = [PeriodicJobs(db=db, clock=clock, schedules=[Schedule("j", HOUR, job)]) for _ in range(4)]
    threads = [threading.Thread(target=r.run_due, args=(f"r{i}",)) for i, r in enumerate(replicas)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(runs) == 1
    assert not any(r.run_due("again") for r in replicas)  # not due before the hour is up
    clock.advance(HOUR)
    assert replicas[2].run_due("r2") and len(runs) == 2
    with db.session(write=False) as s:
        assert periodic.next_runs(s) == {"j": clock.now() + HOUR}


def test_a_runner_that_died_mid_run_is_taken_over_after_its_lease(db: Database) -> None:
    clock = FrozenClock()
    runs: list[str] = []
    jobs = PeriodicJobs(
        db=db, clock=clock, schedules=[Schedule("j", HOUR, lambda now: runs.append("ran"))], lease=timedelta(minutes=5)
    )
    with db.session() as s:
        periodic.ensure(s, "j", clock.now())
        assert periodic.claim(s, "j", "dead", clock.now(), timedelta(minutes=5))  # and then it was killed
    assert not jobs.run_due("alive")
    clock.advance(timedelta(minutes=6))
    assert jobs.run_due("alive") and runs == ["ran"]
    with db.session(write=False) as s:
        row = s.get(PeriodicJobRow, "j")
        assert row is not None and row.lease_owner is None and row.last_error is None


def test_a_failing_job_is_retried_soon_and_its_error_class_recorded(db: Database) -> None:
    clock = FrozenClock()

    def boom(now: datetime) -> None:
        raise RuntimeError("secret detail")

    jobs = PeriodicJobs(db=db, clock=clock, schedules=[Schedule("j", HOUR, boom)], retry=timedelta(minutes=1))
    assert jobs.run_due("me")
    with db.session(write=False) as s:
        row = s.get(PeriodicJobRow, "j")
        assert row is not None and row.last_error == "RuntimeError"
        assert row.next_run_at == clock.now() + timedelta(minutes=1)


def test_the_in_process_runner_runs_background_loops_and_stops_them() -> None:
    seen = threading.Event()

    def step(owner: str, stopping: Callable[[], bool]) -> bool:
        seen.set()
        return stopping()

    runner = InProcessRunner(
        lambda owner: None, lambda t, o: None, lambda o: None, poll_seconds=0.05, loops=[Loop("x", step)]
    )
    runner.start()
    assert seen.wait(5)
    runner.stop(timeout=5)
    assert all(not t.is_alive() for t in threading.enumerate() if t.name == "dsar-x")
