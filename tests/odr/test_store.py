"""The ODR repository on SQLite and PostgreSQL: the per-person limit under concurrency, isolation, expiry."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest

from dsar.errors import InvalidInput, NotFound
from dsar.kit.ids import new_id
from tests.api.harness import running_api, settings_for
from tests.odr.test_oauth import MovableClock


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    return None if request.param == "sqlite" else str(request.getfixturevalue("pg_url"))


def test_requests_on_each_state_database(tmp_path: Path, demo_dir: Path, database_url: str | None) -> None:
    clock = MovableClock()
    extra = {"database_url": database_url} if database_url else {}
    settings = settings_for(tmp_path, demo_dir, run_workers=False, odr={"max_requests": 3}, **extra)
    with running_api(settings, clock=clock) as api:
        svc = api.container.odr.requests

        def create(_: int) -> str:
            try:
                return str(svc.create("race@example.com", "app", ["Person"])["requestId"])
            except InvalidInput as exc:
                return exc.code

        with ThreadPoolExecutor(8) as pool:
            outcomes = list(pool.map(create, range(8)))
        made = [o for o in outcomes if o != "MaximumAmountOfRequestsReached"]
        assert len(made) == 3, outcomes
        assert sorted(r["requestId"] for r in svc.list("race@example.com")) == sorted(made)
        assert svc.list("other@example.com") == []
        with pytest.raises(NotFound):
            svc.get("other@example.com", made[0])
        with pytest.raises(NotFound):
            svc.get("race@example.com", new_id())
        svc.cancel("race@example.com", made[0])
        assert len(svc.list("race@example.com")) == 2
        assert svc.delete_expired(clock.now() + timedelta(days=365)) == 0  # in progress never expires
