"""`requester(s, request_id)`: a case's privacy-center requester, or None without loading anything (asked at every
end of every case); a requester added earlier in the same transaction is found, as the ORM query found it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dsar.db.engine import Database, make_engine
from dsar.db.migrate import upgrade
from dsar.kit.clock import FrozenClock
from dsar.verification import repository as repo
from dsar.verification.models import Requester


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(make_engine(f"sqlite:///{tmp_path / 's.sqlite3'}"))
    upgrade(database.engine)
    yield database
    database.dispose()


def test_a_requester_is_found_before_and_after_its_commit_and_none_is_none(db: Database) -> None:
    now = FrozenClock().now()
    with db.session() as s:
        assert repo.requester(s, "r-1") is None
        repo.add_requester(s, Requester(request_id="r-1", email="jane.doe@example.com", locale="en", created_at=now))
        found = repo.requester(s, "r-1")  # not flushed yet
        assert found is not None and found.email == "jane.doe@example.com"
        assert repo.requester(s, "r-2") is None
    with db.session(write=False) as s:
        again = repo.requester(s, "r-1")
        assert again is not None and again.locale == "en"
        assert repo.requester(s, "r-2") is None
