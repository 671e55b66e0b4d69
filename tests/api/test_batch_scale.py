"""A 10,000-row batch, and a batch reader that stops or dies half-way, on SQLite and PostgreSQL.

The runner's background loop is stepped by hand here (no runner is started), so the reading is observable
chunk by chunk. The real engine runs the tasks of small batches in test_batches.py; here the tasks of the
10,000-row batch are finished with one UPDATE per status, as the workers would one by one, because the
engine's ~8 ms per task would make this test last minutes (see the figures in docs/api.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, update

from dsar.kit.clock import FrozenClock, SystemClock
from dsar.tasks.models import COMPLETED, FAILED, IN_PROGRESS, PrivacyTask
from dsar.uploads import repository as repo
from dsar.uploads.models import RetrievalBatch
from tests.api.files import batch, start_batch, upload
from tests.api.harness import Api, running_api, settings_for
from tests.conftest import fresh_pg_database

ROWS = 10_000


@pytest.fixture(params=["sqlite", "postgres"])
def api(request: pytest.FixtureRequest, tmp_path: Path, demo_dir: Path) -> Iterator[Api]:
    clock = FrozenClock(SystemClock().now())
    extra = {"run_workers": False, "uploads": {"batch_chunk_rows": 1000}, "job": {"lease_seconds": 30}}
    with ExitStack() as stack:
        if request.param == "postgres":
            extra["database_url"] = stack.enter_context(fresh_pg_database())
        yield stack.enter_context(running_api(settings_for(tmp_path, demo_dir, **extra), clock=clock))


def _csv(n: int, dup_every: int = 0, bad_every: int = 0) -> bytes:
    lines = ["email"]
    for i in range(n):
        if bad_every and i % bad_every == bad_every - 1:
            lines.append(f"broken{i}-at-example.com")
        elif dup_every and i % dup_every == dup_every - 1:
            lines.append(f"SHOPPER{i - 1}@EXAMPLE.COM")
        else:
            lines.append(f"shopper{i}@example.com")
    return ("\n".join(lines) + "\n").encode()


def test_a_batch_of_10000_rows_starts_fast_and_completes(api: Api) -> None:
    file_id = upload(api, _csv(ROWS))
    t0 = time.perf_counter()
    with _counting(api) as at_start:
        body = start_batch(api, file_id)
    answered = time.perf_counter() - t0
    batch_id = body["data"]["startPersonalDataRetrievalTasks"]["batchId"]
    assert batch(api, batch_id)["rowsRead"] == 0  # nothing read yet: the answer did not wait for the rows

    t1 = time.perf_counter()
    with _counting(api) as counts:
        assert api.container.batches.run_next("reader")
    read = time.perf_counter() - t1
    b = batch(api, batch_id)
    assert (b["status"], b["rowsRead"], b["tasksStarted"], b["rowsRejected"]) == ("IN_PROGRESS", ROWS, ROWS, 0)
    assert b["taskCounts"] == {"inProgress": ROWS, "completed": 0, "failed": 0}
    assert not api.container.batches.run_next("reader")  # read once

    with api.container.db.session() as s:
        ids = list(s.scalars(select(PrivacyTask.id).where(PrivacyTask.batch_id == batch_id).order_by(PrivacyTask.id)))
        assert len(ids) == len(set(ids)) == ROWS
        s.execute(update(PrivacyTask).where(PrivacyTask.id.in_(ids[:9000])).values(status=COMPLETED))
    assert batch(api, batch_id)["status"] == "IN_PROGRESS"
    with api.container.db.session() as s:
        s.execute(
            update(PrivacyTask)
            .where(PrivacyTask.batch_id == batch_id, PrivacyTask.status == IN_PROGRESS)
            .values(status=FAILED)
        )
    b = batch(api, batch_id)
    assert b["status"] == "COMPLETED"
    assert b["taskCounts"] == {"inProgress": 0, "completed": 9000, "failed": 1000}
    print(f"\n10,000-row batch: start answered in {answered * 1000:.0f} ms, rows read in {read:.2f} s")
    # What makes it fast, counted rather than timed (the machine may be busy): the answer wrote a few rows and
    # read none of the file; the reader wrote the 10,000 tasks in a few statements per 1,000-row chunk.
    chunks = ROWS // 1000
    assert at_start["commit"] <= 5 and at_start["statement"] <= 50, at_start
    assert counts["commit"] <= 3 * chunks + 5, counts  # not one per row
    assert counts["statement"] <= 20 * chunks + 20, counts


@contextmanager
def _counting(api: Api) -> Iterator[dict[str, int]]:
    """Commits and SQL statements (an executemany counts once) on the app's state database meanwhile."""
    counts = {"commit": 0, "statement": 0}
    engine = api.container.db.engine

    def on_commit(_conn: Any) -> None:
        counts["commit"] += 1

    def on_statement(*_args: Any) -> None:
        counts["statement"] += 1

    event.listen(engine, "commit", on_commit)
    event.listen(engine, "before_cursor_execute", on_statement)
    try:
        yield counts
    finally:
        event.remove(engine, "commit", on_commit)
        event.remove(engine, "before_cursor_execute", on_statement)


def test_a_reader_that_stops_or_dies_resumes_after_the_last_chunk(api: Api) -> None:
    c = api.container
    clock = c.clock
    assert isinstance(clock, FrozenClock)
    n = 3000
    file_id = upload(api, _csv(n, dup_every=7, bad_every=11))
    batch_id = start_batch(api, file_id)["data"]["startPersonalDataRetrievalTasks"]["batchId"]
    c.batches.chunk_rows = 250

    # A runner shutting down stops between chunks and hands the batch on at once.
    calls = iter(range(100))
    assert c.batches.run_next("first", stopping=lambda: next(calls) >= 2)
    assert batch(api, batch_id)["rowsRead"] == 500

    # A reader that dies holds its lease until it expires; then another takes over where it stopped.
    with c.db.session() as s:
        assert repo.claim_batch(s, "dead", clock.now(), c.batches.lease) == batch_id
    assert not c.batches.run_next("second")
    clock.advance(c.batches.lease + timedelta(seconds=1))
    assert c.batches.run_next("second")
    b = batch(api, batch_id)
    bad = sum(1 for i in range(n) if i % 11 == 10)
    dups = sum(1 for i in range(n) if i % 7 == 6 and i % 11 != 10 and (i - 1) % 11 != 10)
    assert b["rowsRead"] == n
    assert b["rowsRejected"] == bad + dups
    assert b["tasksStarted"] == n - bad - dups
    with c.db.session(write=False) as s:
        refs = list(s.scalars(select(PrivacyTask.subject_ref).where(PrivacyTask.batch_id == batch_id)))
        assert len(refs) == len(set(refs)) == b["tasksStarted"]
        row = s.get(RetrievalBatch, batch_id)
        assert row is not None and row.attempts == 3
