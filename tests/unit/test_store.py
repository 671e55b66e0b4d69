"""dsar's own state store on SQLite and PostgreSQL: migrations, leases, idempotency keys, tenant scoping."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import update

from dsar.db.base import Base
from dsar.db.engine import Database, make_engine
from dsar.db.migrate import upgrade
from dsar.kit.clock import FrozenClock
from dsar.kit.ids import new_id
from dsar.tasks import repository as repo
from dsar.tasks.models import COMPLETED, FAILED, IN_PROGRESS, RETRIEVAL, PrivacyTask

LEASE = timedelta(seconds=30)


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'state.sqlite3'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    database = Database(make_engine(url))
    upgrade(database.engine)
    yield database
    database.dispose()


def _task(db: Database, clock: FrozenClock, tenant: str = "t1") -> str:
    tid = new_id()
    now = clock.now()
    with db.session() as s:
        s.add(
            PrivacyTask(
                id=tid,
                tenant=tenant,
                kind=RETRIEVAL,
                subject_email="a@example.com",
                subject_ref="r",
                status=IN_PROGRESS,
                errors=[],
                submitted_at=now,
                updated_at=now,
                due_at=now,
                attempts=0,
            )
        )
    return tid


def test_migrations_match_the_models(db: Database) -> None:
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    upgrade(db.engine)  # a second upgrade is a no-op


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    database = Database(make_engine(f"sqlite:///{tmp_path / 's.sqlite3'}"))
    with database.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    database.dispose()


def test_point_reads_see_committed_writes_and_may_run_inline_only_on_sqlite(db: Database) -> None:
    clock = FrozenClock()
    tid = _task(db, clock, tenant="t1")
    assert db.inline_reads is (db.dialect == "sqlite")
    with db.read() as conn:
        row = repo.view_row(conn, "t1", tid, RETRIEVAL)
        assert row is not None and row.status == IN_PROGRESS and row.submitted_at == clock.now()
        assert repo.view_row(conn, "t2", tid, RETRIEVAL) is None  # another tenant's task is unknown
    with db.session() as s:
        s.execute(update(PrivacyTask).where(PrivacyTask.id == tid).values(status=COMPLETED))
    with db.read() as conn:  # a read releases its snapshot: the next one sees the commit
        assert repo.view_row(conn, "t1", tid, RETRIEVAL).status == COMPLETED


def test_an_inline_read_never_waits_for_the_main_pool(tmp_path: Path) -> None:
    """An event loop that reads inline must not block on a checkout while worker threads hold every
    connection of the main pool."""
    database = Database(make_engine(f"sqlite:///{tmp_path / 's.sqlite3'}", pool_size=1, max_overflow=0, pool_timeout=1))
    upgrade(database.engine)
    tid = _task(database, FrozenClock())
    held = [database.engine.connect()]  # the main pool's only connection, held by "a worker"
    try:
        with database.read() as a, database.read() as b:  # two at once: no overflow limit either
            assert repo.view_row(a, "t1", tid, RETRIEVAL) is not None
            assert repo.view_row(b, "t1", tid, RETRIEVAL) is not None
    finally:
        for conn in held:
            conn.close()
        database.dispose()


def test_times_round_trip_as_aware_utc(db: Database) -> None:
    clock = FrozenClock()
    tid = _task(db, clock)
    with db.session(write=False) as s:
        t = s.get(PrivacyTask, tid)
        assert t is not None and t.submitted_at == clock.now() and t.submitted_at.tzinfo is not None


def test_each_task_is_claimed_by_one_owner_under_concurrency(db: Database) -> None:
    clock = FrozenClock()
    ids = {_task(db, clock) for _ in range(20)}
    claimed: dict[str, list[str]] = {}
    lock = threading.Lock()

    def worker(owner: str) -> None:
        while True:
            with db.session() as s:
                tid = repo.claim_next(s, owner, clock.now(), LEASE)
            if tid is None:
                return
            with lock:
                claimed.setdefault(tid, []).append(owner)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(claimed) == ids
    assert all(len(owners) == 1 for owners in claimed.values())


def test_single_requests_are_claimed_before_the_rows_of_a_batch(db: Database) -> None:
    clock = FrozenClock()
    batch = [_task(db, clock) for _ in range(30)]
    with db.session() as s:
        s.execute(update(PrivacyTask).where(PrivacyTask.id.in_(batch)).values(batch_id=new_id()))
    clock.advance(timedelta(seconds=5))
    single = _task(db, clock)  # submitted after the whole batch
    with db.session() as s:
        order = [repo.claim_next(s, "w", clock.now(), LEASE) for _ in range(4)]
    assert order[0] == single
    assert set(order[1:]) <= set(batch)
    with db.session() as s:  # the batch's rows, oldest first, then nothing
        rest = [repo.claim_next(s, "w", clock.now(), LEASE) for _ in range(28)]
    assert rest[-1] is None and set(order[1:] + rest[:-1]) == set(batch)


def test_expired_lease_is_taken_over_and_the_old_owner_cannot_finish(db: Database) -> None:
    clock = FrozenClock()
    tid = _task(db, clock)
    with db.session() as s:
        assert repo.claim_next(s, "old", clock.now(), LEASE) == tid
    with db.session() as s:
        assert repo.claim_next(s, "new", clock.now(), LEASE) is None  # lease still held
    clock.advance(LEASE + timedelta(seconds=1))
    with db.session() as s:
        assert repo.claim_next(s, "new", clock.now(), LEASE) == tid
    with db.session() as s:
        assert not repo.finish(s, tid, "old", clock.now(), COMPLETED)
    with db.session() as s:
        assert repo.finish(s, tid, "new", clock.now(), COMPLETED, result_key="k")
    with db.session() as s:
        assert not repo.finish(s, tid, "new", clock.now(), FAILED)  # final states are final
        t = s.get(PrivacyTask, tid)
        assert t is not None and (t.status, t.attempts, t.lease_owner) == (COMPLETED, 2, None)


def test_heartbeat_keeps_the_lease(db: Database) -> None:
    clock = FrozenClock()
    tid = _task(db, clock)
    with db.session() as s:
        repo.claim_next(s, "me", clock.now(), LEASE)
    clock.advance(LEASE - timedelta(seconds=1))
    with db.session() as s:
        assert repo.renew_leases(s, "me", clock.now() + LEASE) == 1
    clock.advance(timedelta(seconds=2))
    with db.session() as s:
        assert repo.claim_next(s, "other", clock.now(), LEASE) is None
    assert tid


def test_a_task_is_found_only_in_its_tenant(db: Database) -> None:
    clock = FrozenClock()
    tid = _task(db, clock, tenant="t1")
    with db.session(write=False) as s:
        assert repo.get_task(s, "t1", tid, RETRIEVAL) is not None
        assert repo.get_task(s, "t2", tid, RETRIEVAL) is None
        assert repo.get_task(s, "t1", tid, "deletion") is None


def test_idempotency_key_once_per_window(db: Database) -> None:
    clock = FrozenClock()
    with db.session() as s:
        assert repo.remember_token(s, "t1", "op", "tok", "task-1", "fp", clock.now())
    with db.session() as s:
        assert not repo.remember_token(s, "t1", "op", "tok", "task-2", "fp", clock.now())
        hit = repo.find_by_token(s, "t1", "op", "tok", clock.now())
        assert hit is not None and hit.task_id == "task-1"
        assert repo.find_by_token(s, "t2", "op", "tok", clock.now()) is None
    clock.advance(timedelta(hours=8, seconds=1))
    with db.session() as s:
        assert repo.find_by_token(s, "t1", "op", "tok", clock.now()) is None
        assert repo.remember_token(s, "t1", "op", "tok", "task-3", "fp", clock.now())


def _worker(db: Database, clock: FrozenClock, tmp_path: Path, handler: object) -> object:
    from dsar.tasks.jobs import TaskWorker

    return TaskWorker(
        db=db,
        clock=clock,
        storage=None,
        datamap=None,
        plan=None,
        sources=None,
        engine=None,
        work_dir=tmp_path,
        lease=LEASE,
        handlers={("bwp", RETRIEVAL): handler},
    )


def test_the_heartbeat_renews_only_leases_whose_run_is_in_progress(db: Database, tmp_path: Path) -> None:
    """A run that ends without finishing or releasing its task (the state DB was down) leaves a lease that expires."""
    from dsar.tasks.jobs import TaskWorker

    clock = FrozenClock()
    tid = _task(db, clock)

    def handler(_job: object) -> None:
        clock.advance(LEASE - timedelta(seconds=1))
        w.heartbeat("proc")  # renews the running lease (the worker running this handler)
        clock.advance(timedelta(seconds=2))
        with db.session() as s:
            assert repo.claim_next(s, "other", clock.now(), LEASE) is None
        raise KeyboardInterrupt  # stands for a run that ended without a word to the DB

    w = _worker(db, clock, tmp_path, handler)
    assert isinstance(w, TaskWorker)
    with db.session() as s:
        assert repo.claim_next(s, "proc/0", clock.now(), LEASE) == tid
    with pytest.raises(KeyboardInterrupt):
        w.run(tid, "proc/0")
    w.heartbeat("proc")  # the run is over: its lease is no longer renewed
    clock.advance(LEASE + timedelta(seconds=1))
    with db.session() as s:
        assert repo.claim_next(s, "other", clock.now(), LEASE) == tid


def test_a_run_that_meets_an_unreachable_service_does_not_count(db: Database, tmp_path: Path) -> None:
    from dsar.tasks.jobs import TaskWorker

    clock = FrozenClock()
    tid = _task(db, clock)

    def unreachable(_job: object) -> None:
        raise ConnectionError("S3 unreachable")

    def broken(_job: object) -> None:
        raise RuntimeError("a bug")

    for handler, attempts in ((unreachable, 0), (broken, 1)):
        w = _worker(db, clock, tmp_path, handler)
        assert isinstance(w, TaskWorker)
        clock.advance(timedelta(minutes=1))
        assert w.claim("proc/0") == tid
        w.run(tid, "proc/0")
        with db.session(write=False) as s:
            t = s.get(PrivacyTask, tid)
            assert t is not None and (t.status, t.lease_owner, t.attempts) == (IN_PROGRESS, None, attempts)
