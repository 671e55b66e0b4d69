"""Orphan sealed bodies (docs/encryption.md): a write killed between its body and its header leaves a body no
header names. `sweep_orphans` deletes such bodies once they are older than the grace period, over local files
and S3 on moto_server; it never deletes a body a header names, nor a young one (a write may be in progress).
The periodic job and `dsar storage sweep` run it in a real deployment's objects directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dsar.bootstrap import Container
from dsar.config import Settings
from dsar.db.migrate import upgrade
from dsar.jobs.periodic import PeriodicJobs
from dsar.kit import sealed
from dsar.kit.clock import FrozenClock
from dsar.storage.base import Storage
from dsar.storage.encrypted import BODY_PREFIX, EncryptedStorage, Sweep, body_name, body_owner
from dsar.storage.keyring import LocalKeyring
from dsar.storage.local import LocalStorage

KEY = "privacyRequest/6f1c2a9e-3a43-4a8e-9c1e-0d6f4f1b2c3d/result/data_retrieval.zip"
OTHER = "uploads/3c1d.csv"
CONTENT = b"PK\x03\x04" + bytes(range(256)) * 600  # past two 64 KiB chunks
HOUR = timedelta(hours=1)


@pytest.fixture(params=["local", "s3"])
def inner(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return LocalStorage(
            tmp_path / "objects", public_url="https://x.test", signing_key=b"i" * 32, clock=FrozenClock()
        )
    from dsar.storage.s3 import S3Storage

    return S3Storage(request.getfixturevalue("s3_bucket"), "orphans", list_page=3)


@pytest.fixture
def storage(inner: Storage) -> EncryptedStorage:
    keyring = LocalKeyring({"k": b"k" * 32}, "k")
    return EncryptedStorage(inner, keyring, public_url="https://x.test", signing_key=b"s" * 32, clock=FrozenClock())


def _killed_write(inner: Storage, key: str) -> str:
    """What a writer killed between the body and the header leaves: a sealed body, named for `key`, and no header."""
    body = body_name(key)
    inner.put_stream(body, sealed.seal(sealed.new_data_key(), sealed.new_prefix(), [CONTENT]))
    return body


def _bodies(inner: Storage) -> set[str]:
    return {item.key for item in inner.list_objects(BODY_PREFIX)}


def _read(storage: Storage, key: str) -> bytes:
    with storage.open(key) as handle:
        return handle.read()


def test_body_names_say_which_header_may_name_them() -> None:
    body = body_name(KEY)
    fan, segment = body.removeprefix(BODY_PREFIX).split("/")  # one directory level, however deep the key
    assert len(fan) == 4 and segment.startswith("privacyRequest_s6f1c2a9e-") and "_sdata_uretrieval.zip." in segment
    assert body_owner(body) == KEY and body_name(KEY) != body
    assert body_owner(body_name("a_s/b__c")) == "a_s/b__c"
    assert body_owner(f"{BODY_PREFIX}3f2a/{'a' * 32}") is None  # named the older way: no owner in its name
    assert body_owner(f"{BODY_PREFIX}3f2a/x_q.{'a' * 32}") is None  # not an escape
    assert body_owner(f"{BODY_PREFIX}3f2a/dsar-sealed_sx.{'a' * 32}") is None
    long_key = "k/" + "a" * 300
    assert body_owner(body_name(long_key)) is None  # too long for one segment: never swept


def test_a_killed_write_leaves_an_orphan_the_sweep_deletes_once_old(inner: Storage, storage: EncryptedStorage) -> None:
    storage.put_stream(KEY, [CONTENT])
    named = storage.header(KEY)
    assert named is not None
    orphan = _killed_write(inner, KEY)  # the key's header names another body
    lonely = _killed_write(inner, OTHER)  # no header at all
    assert _bodies(inner) == {named.body, orphan, lonely}
    now = datetime.now(UTC)

    # Young: a write may still be in progress; nothing is deleted.
    assert storage.sweep_orphans(now - 24 * HOUR) == Sweep(deleted=0, named=0, young=3, unknown=0)
    assert _bodies(inner) == {named.body, orphan, lonely}

    # Old (the clock a day on): the two orphans go, the body the header names stays, the object reads whole.
    assert storage.sweep_orphans(now + HOUR) == Sweep(deleted=2, named=1, young=0, unknown=0)
    assert _bodies(inner) == {named.body}
    assert _read(storage, KEY) == CONTENT
    assert not storage.exists(OTHER)
    assert storage.sweep_orphans(now + HOUR) == Sweep(deleted=0, named=1, young=0, unknown=0)


def test_a_write_killed_before_dropping_the_old_body_leaves_an_orphan(
    inner: Storage, storage: EncryptedStorage
) -> None:
    storage.put_stream(KEY, [b"first"])
    first = storage.header(KEY)
    assert first is not None
    with inner.open(first.body) as handle:
        kept = handle.read()
    storage.put_stream(KEY, [CONTENT])
    inner.put_stream(first.body, [kept])  # as if the writer died after the new header, before the delete
    done = storage.sweep_orphans(datetime.now(UTC) + HOUR)
    assert (done.deleted, done.named) == (1, 1)
    assert first.body not in _bodies(inner)
    assert _read(storage, KEY) == CONTENT


def test_bodies_whose_owner_cannot_be_told_are_kept(inner: Storage, storage: EncryptedStorage) -> None:
    legacy = f"{BODY_PREFIX}3f2a/{'b' * 32}"
    inner.put_stream(legacy, [b"sealed bytes of an older write"])
    unreadable = _killed_write(inner, OTHER)
    inner.put_stream(OTHER, [b"DSAR-SEALED\n{not json"])  # a header that cannot be read: keep its owner's bodies
    done = storage.sweep_orphans(datetime.now(UTC) + HOUR)
    assert done == Sweep(deleted=0, named=0, young=0, unknown=2)
    assert _bodies(inner) == {legacy, unreadable}


def test_a_clear_object_at_the_owner_key_names_no_body(inner: Storage, storage: EncryptedStorage) -> None:
    orphan = _killed_write(inner, OTHER)
    inner.put_stream(OTHER, [b"id,email\n"])  # written in clear (encryption was off) over the sealed object
    assert storage.sweep_orphans(datetime.now(UTC) + HOUR).deleted == 1
    assert orphan not in _bodies(inner)
    assert _read(storage, OTHER) == b"id,email\n"


# -- in a deployment: the periodic job and the command ----------------------------------------------------


def _age(path: Path, hours: int) -> None:
    then = (datetime.now(UTC) - timedelta(hours=hours)).timestamp()
    os.utime(path, (then, then))


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[Container, LocalStorage]]:
    settings = Settings(data_dir=tmp_path / "state", secret_key="x" * 40)
    container = Container(settings, with_workers=False)
    try:
        storage = container.storage
        assert isinstance(storage, EncryptedStorage) and isinstance(storage.inner, LocalStorage)
        yield container, storage.inner
    finally:
        container.close()


def test_the_periodic_job_sweeps_old_orphans_only(deployment: tuple[Container, LocalStorage]) -> None:
    container, local = deployment
    upgrade(container.db.engine)
    container.storage.put_stream(KEY, [CONTENT])
    old, young = _killed_write(local, KEY), _killed_write(local, OTHER)
    _age(local.path(old), 25)
    _age(local.path(young), 23)
    job = next(job for job in container.periodic.schedules if job.name == "sealed-orphans")
    assert job.every == timedelta(hours=6)
    assert PeriodicJobs(db=container.db, clock=container.clock, schedules=[job]).run_due("test-runner")
    assert old not in _bodies(local) and young in _bodies(local)
    assert _read(container.storage, KEY) == CONTENT


def test_dsar_storage_sweep(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSAR_")}
    env.update(DSAR_DATA_DIR=str(tmp_path / "state"), DSAR_SECRET_KEY="x" * 40)
    local = LocalStorage(
        tmp_path / "state" / "objects", public_url="https://x.test", signing_key=b"i", clock=FrozenClock()
    )
    old, young = _killed_write(local, KEY), _killed_write(local, OTHER)
    _age(local.path(old), 30)
    _age(local.path(young), 3)

    def sweep(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "dsar", "storage", "sweep", *args]
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)

    done = sweep()
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("1 orphan bodies deleted; kept 0 named by a header, 1 younger than the grace period")
    assert _bodies(local) == {young}
    assert sweep("--grace-hours", "2").stdout.startswith("1 orphan bodies deleted")
    assert _bodies(local) == set()
    refused = sweep("--grace-hours", "0")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
