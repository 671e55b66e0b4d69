"""Uploaded files expire 30 days after createUploadLink: not found at once, deleted by the periodic janitor."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from dsar.jobs import periodic
from dsar.kit.clock import FrozenClock, SystemClock
from tests.api.files import DOWNLOAD, create_link, start_batch, upload
from tests.api.harness import Api, running_api, settings_for
from tests.conftest import fresh_pg_database

DAY = timedelta(days=1)


@pytest.fixture(params=["sqlite", "postgres"])
def api(request: pytest.FixtureRequest, tmp_path: Path, demo_dir: Path) -> Iterator[Api]:
    clock = FrozenClock(SystemClock().now())
    # Tokens would expire over 30 days of the frozen clock; these tests are about files, not tokens.
    extra: dict[str, object] = {"token_ttl_seconds": 86400}
    with ExitStack() as stack:
        if request.param == "postgres":
            extra["database_url"] = stack.enter_context(fresh_pg_database())
        yield stack.enter_context(running_api(settings_for(tmp_path, demo_dir, **extra), clock=clock))


def _fresh_token(api: Api) -> str:
    cid, secret = api.container.auth.create_client("later", ["files:manage", "privacy:manage"])
    return str(api.container.auth.issue_token(cid, secret, None)["access_token"])


def _on_disk(api: Api) -> set[str]:
    folder = api.container.settings.data_dir / "objects" / "uploads"
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def test_a_file_expires_after_30_days_and_the_janitor_deletes_it(api: Api) -> None:
    clock = api.container.clock
    assert isinstance(clock, FrozenClock)
    old = upload(api, b"email\njane.doe@example.com\n")
    _, never_used = create_link(api, 10)
    clock.advance(10 * DAY)
    young = upload(api, b"email\nnobody@example.com\n", token=_fresh_token(api))

    clock.advance(20 * DAY - timedelta(seconds=1))  # 1 second before the first file's 30 days
    token = _fresh_token(api)
    assert "errors" not in api.gql(DOWNLOAD % old, token=token).json()

    # Hold the janitor's lease while the expired files are asked for, so that they are answered "not found"
    # by the API itself and not because the background janitor happened to delete them first.
    with api.container.db.session() as s:
        periodic.ensure(s, "uploads-expiry", clock.now())
        s.execute(
            update(periodic.PeriodicJobRow)
            .where(periodic.PeriodicJobRow.name == "uploads-expiry")
            .values(lease_owner="the-test", lease_expires=clock.now() + 365 * DAY)
        )
    clock.advance(timedelta(seconds=2))
    token = _fresh_token(api)
    for file_id in (old, never_used):  # expired: answers not found at once, before the janitor ran
        body = api.gql(DOWNLOAD % file_id, token=token).json()
        assert body["errors"][0]["extensions"]["classification"]["type"] == "ResourceNotFoundError"
        batch = start_batch(api, file_id, token=token)
        assert batch["errors"][0]["extensions"]["classification"]["type"] == "ResourceNotFoundError"
    assert f"{old}.csv" in _on_disk(api)
    with api.container.db.session() as s:  # let the janitor go
        s.execute(
            update(periodic.PeriodicJobRow)
            .where(periodic.PeriodicJobRow.name == "uploads-expiry")
            .values(lease_owner=None, lease_expires=None, next_run_at=clock.now())
        )

    # The runner's periodic loop finds the janitor due (it last ran 30 days ago by the frozen clock).
    def janitor_ran() -> bool:
        with api.container.db.session(write=False) as s:
            return periodic.next_runs(s).get("uploads-expiry", clock.now()) > clock.now()

    # The schedule moves when the janitor claims its run, before it deletes: wait for both.
    deadline = time.monotonic() + 10

    def rows() -> set[str]:
        with api.container.db.engine.connect() as conn:
            return {r[0] for r in conn.exec_driver_sql("SELECT id FROM uploads")}

    while not (janitor_ran() and _on_disk(api) == {f"{young}.csv"} and rows() == {young}):
        assert time.monotonic() < deadline, f"the janitor did not finish: {sorted(_on_disk(api))}"
        time.sleep(0.05)
    assert "errors" not in api.gql(DOWNLOAD % young, token=token).json()


def test_the_janitor_is_idempotent_and_runs_once_per_interval(api: Api) -> None:
    c = api.container
    clock = c.clock
    assert isinstance(clock, FrozenClock)
    upload(api, b"email\njane.doe@example.com\n")
    clock.advance(31 * DAY)
    assert c.uploads.delete_expired(clock.now()) == 1
    assert c.uploads.delete_expired(clock.now()) == 0
    assert _on_disk(api) == set()
