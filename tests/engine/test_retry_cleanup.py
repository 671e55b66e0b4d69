"""A retried retrieval removes what a killed earlier attempt left in storage; a first attempt has nothing to
remove and makes no request for it (one S3 PutObject per small archive)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import boto3
import pytest

from dsar.bootstrap import Container
from dsar.kit.clock import FrozenClock
from dsar.storage.s3 import S3Storage
from dsar.tasks.jobs import result_key
from dsar.tasks.models import COMPLETED, RETRIEVAL
from tests.api.harness import settings_for

SUBJECT = "jane.doe@example.com"


def _container(tmp_path: Path, demo_dir: Path, clock: FrozenClock, storage_url: str | None) -> Container:
    extra = {"storage_url": storage_url} if storage_url else {}
    settings = settings_for(tmp_path, demo_dir, **extra)
    c = Container(settings, clock=clock, with_workers=False)
    from dsar.db.migrate import upgrade

    upgrade(c.db.engine)
    return c


def _leave_partial(c: Container, key: str) -> None:
    """What a writer killed mid-write leaves: a temporary file beside the key, or an incomplete upload."""
    if isinstance(c.storage, S3Storage):
        boto3.client("s3").create_multipart_upload(Bucket=c.storage.bucket, Key=c.storage._key(key))
    else:
        target = c.storage.path(key)  # type: ignore[attr-defined]
        target.parent.mkdir(parents=True, exist_ok=True)
        (target.parent / f".dsar-{target.name}.dead.tmp").write_bytes(b"half an archive")


def _partials(c: Container, key: str) -> int:
    if isinstance(c.storage, S3Storage):
        found = boto3.client("s3").list_multipart_uploads(Bucket=c.storage.bucket).get("Uploads", [])
        return len(found)
    return len(list(c.storage.path(key).parent.glob(".dsar-*.tmp")))  # type: ignore[attr-defined]


@pytest.mark.parametrize("store", ["local", "s3"])
def test_a_retry_removes_what_the_killed_attempt_left(
    store: str, tmp_path: Path, demo_dir: Path, request: pytest.FixtureRequest
) -> None:
    url = f"s3://{request.getfixturevalue('s3_bucket')}" if store == "s3" else None
    clock = FrozenClock()
    c = _container(tmp_path, demo_dir, clock, url)
    try:
        tid = c.tasks.start_retrieval("t1", SUBJECT, None)
        key = result_key(tid)
        assert c.worker.claim("dead-worker") == tid  # attempt 1, killed while writing the archive
        _leave_partial(c, key)
        clock.advance(timedelta(seconds=c.settings.job.lease_seconds + 1))  # its lease runs out
        assert c.worker.claim("w2") == tid
        c.worker.run(tid, "w2")  # attempt 2
        view = c.tasks.get("t1", tid, RETRIEVAL)
        assert view.status == COMPLETED and c.storage.exists(key)
        assert _partials(c, key) == 0
    finally:
        c.close()


def test_a_first_attempt_writes_a_small_archive_with_one_request(
    tmp_path: Path, demo_dir: Path, s3_bucket: str
) -> None:
    c = _container(tmp_path, demo_dir, FrozenClock(), f"s3://{s3_bucket}")
    try:
        assert isinstance(c.storage, S3Storage)
        calls: list[str] = []
        c.storage.client.meta.events.register("before-call.s3", lambda model, **_: calls.append(model.name))
        tid = c.tasks.start_retrieval("t1", SUBJECT, None)
        assert c.worker.claim("w1") == tid
        c.worker.run(tid, "w1")
        assert c.tasks.get("t1", tid, RETRIEVAL).status == COMPLETED
        assert calls == ["PutObject"]
    finally:
        c.close()


def test_a_busy_worker_walks_without_reader_threads(
    tmp_path: Path, demo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task that runs alone in its process reads independent collections in parallel; one that runs beside
    other tasks reads in its own thread (the process is busy anyway)."""
    from dsar.tasks import jobs

    seen: list[bool] = []
    plain = jobs.run_retrieval

    def recording(*args: object, parallel: bool = True, **kwargs: object) -> object:
        seen.append(parallel)
        return plain(*args, parallel=parallel, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jobs, "run_retrieval", recording)
    c = _container(tmp_path, demo_dir, FrozenClock(), None)
    try:
        for busy in (False, True):
            tid = c.tasks.start_retrieval("t1", SUBJECT, None)
            assert c.worker.claim("w1") == tid
            if busy:
                c.worker._running.add("another-thread")  # another task in progress in this process
            c.worker.run(tid, "w1")
            assert c.tasks.get("t1", tid, RETRIEVAL).status == COMPLETED
        assert seen == [True, False]
    finally:
        c.close()
