"""Revision 0008: webhook_events gains `seq` in its key; the events already queued keep their place (seq 0)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from dsar.db.engine import Database, make_engine
from dsar.db.migrate import upgrade


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_queued_task_events_survive_and_case_events_fit_beside_them(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite:///{tmp_path / 'state.sqlite3'}" if kind == "sqlite" else request.getfixturevalue("pg_url")
    db = Database(make_engine(url))
    try:
        upgrade(db.engine, "0005_revocations")
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO webhook_events VALUES ('hook', 'task-or-request', 'm1')"))
        upgrade(db.engine)
        with db.engine.begin() as conn:
            for seq, mid in ((1, "m2"), (2, "m3")):  # a request's timeline lines beside the task's end
                conn.execute(
                    text(
                        "INSERT INTO webhook_events (subscription_id, task_id, seq, message_id) VALUES (:h, :t, :s, :m)"
                    ),
                    {"h": "hook", "t": "task-or-request", "s": seq, "m": mid},
                )
            rows = conn.execute(text("SELECT seq, message_id FROM webhook_events ORDER BY seq")).all()
        assert [tuple(r) for r in rows] == [(0, "m1"), (1, "m2"), (2, "m3")]
        with pytest.raises(IntegrityError, match=r"(?i)unique|duplicate"), db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO webhook_events (subscription_id, task_id, seq, message_id) "
                    "VALUES ('hook', 'task-or-request', 1, 'x')"
                )
            )
    finally:
        db.dispose()
