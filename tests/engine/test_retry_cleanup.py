"""A retried retrieval removes what a killed earlier attempt left in storage; a first attempt has nothing to
remove and makes no request for it (one S3 PutObject per small archive in clear; with encryption at rest on, the
default, the sealed body, a read of the key's former header, and the header)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import boto3
import pytest

from dsar.bootstrap import Container
from dsar.kit.clock import FrozenClock
from dsar.storage.base import Storage
from dsar.storage.encrypted import EncryptedStorage
from dsar.storage.s3 import S3Storage
from dsar.tasks.jobs import result_key
from dsar.tasks.models import COMPLETED, RETRIEVAL
from tests.api.harness import settings_for

SUBJECT = "jane.doe@example.com"


def _container(
    tmp_path: Path, demo_dir: Path, clock: FrozenClock, storage_url: str | None, encrypted: bool = True
) -> Container:
    extra = {"storage_url": storage_url} if storage_url else {}
    settings = settings_for(tmp_path, demo_dir, encryption={"enabled": encrypted}, **extra)
    c = Container(settings, clock=clock, with_workers=False)
    from dsar.db.migrate import upgrade

    upgrade(c.db.engine)
    return c


def _plain(c: Container) -> Storage:
    """The adapter under encryption at rest, which writes the key (a sealed object's header) itself."""
    return c.storage.inner if isinstance(c.storage, EncryptedStorage) else c.storage


def _leave_partial(c: Container, key: str) -> None:
    """What a writer killed mid-write of the key leaves: a temporary file beside it, or an incomplete upload."""
    plain = _plain(c)
    if isinstance(plain, S3Storage):
        boto3.client("s3").create_multipart_upload(Bucket=plain.bucket, Key=plain._key(key))
    else:
        target = plain.path(key)  # type: ignore[attr-defined]
        target.parent.mkdir(parents=True, exist_ok=True)
        (target.parent / f".dsar-{target.name}.dead.tmp").write_bytes(b"half an archive")


def _partials(c: Container, key: str) -> int:
    plain = _plain(c)
    if isinstance(plain, S3Storage):
        found = boto3.client("s3").list_multipart_uploads(Bucket=plain.bucket).get("Uploads", [])
        return len(found)
    return len(list(plain.path(key).parent.glob(".dsar-*.tmp")))  # type: ignore[attr-defined]


@pytest.mark.parametrize("encrypted", [True, False], ids=["encrypted", "clear"])
@pytest.mark.parametrize("store", ["local", "s3"])
def test_a_retry_removes_what_the_killed_attempt_left(
    store: str, encrypted: bool, tmp_path: Path, demo_dir: Path, request: pytest.FixtureRequest
) -> None:
    url = f"s3://{request.getfixturevalue('s3_bucket')}" if store == "s3" else None
    clock = FrozenClock()
    c = _container(tmp_path, demo_dir, clock, url, encrypted)
    assert isinstance(c.storage, EncryptedStorage)  # off, it writes in clear and still reads what was sealed
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


@pytest.mark.parametrize(
    ("encrypted", "requests"),
    [(False, ["PutObject"]), (True, ["PutObject", "GetObject", "PutObject"])],
    ids=["clear", "encrypted"],
)
def test_a_first_attempt_writes_a_small_archive_without_cleanup_requests(
    tmp_path: Path, demo_dir: Path, s3_bucket: str, encrypted: bool, requests: list[str]
) -> None:
    c = _container(tmp_path, demo_dir, FrozenClock(), f"s3://{s3_bucket}", encrypted)
    try:
        plain = _plain(c)
        assert isinstance(plain, S3Storage)
        calls: list[str] = []
        plain.client.meta.events.register("before-call.s3", lambda model, **_: calls.append(model.name))
        tid = c.tasks.start_retrieval("t1", SUBJECT, None)
        assert c.worker.claim("w1") == tid
        c.worker.run(tid, "w1")
        assert c.tasks.get("t1", tid, RETRIEVAL).status == COMPLETED
        assert calls == requests
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
