"""The rest of the personal data in dsar's own state, sealed (`SealedJSON`, `SealedText`) on SQLite, PostgreSQL
and MariaDB: a task's identities besides the e-mail, the privacy center's requesters, the outbox's messages;
rows written in clear before (also by the JSON columns the migrations replaced) read, and are sealed on request.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import text

from dsar.db.base import UtcDateTime
from dsar.db.engine import Database, make_engine
from dsar.db.migrate import upgrade
from dsar.db.sealed import PREFIX, SealedFieldError
from dsar.kit.clock import FrozenClock
from dsar.kit.ids import new_id
from dsar.notifications import email as outbox_email
from dsar.notifications.models import PENDING, OutboxMessage
from dsar.tasks import repository as repo
from dsar.tasks.models import IN_PROGRESS, RETRIEVAL, PrivacyTask
from dsar.verification import repository as verification_repo
from dsar.verification.models import Requester

KEY = b"k" * 32
PHONE = "+4915112345678"
IDENTITIES = {"phone": PHONE, "customer_id": "C-000417"}


@pytest.fixture(params=["sqlite", "postgres", "mariadb"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    urls = {"postgres": "pg_url", "mariadb": "mysql_url"}
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 's.sqlite3'}"
    return str(request.getfixturevalue(urls[request.param]))


@pytest.fixture
def db(url: str) -> Iterator[Database]:
    database = Database(make_engine(url))
    upgrade(database.engine)
    database.seal_fields(KEY)
    yield database
    database.dispose()


def _raw(db: Database, sql: str, **params: Any) -> str:
    with db.engine.connect() as conn:
        return str(conn.execute(text(sql), params).scalar_one())


def _task(db: Database, identities: dict[str, str] | None) -> str:
    tid, now = new_id(), FrozenClock().now()
    with db.session() as s:
        repo.add_task(
            s,
            task_id=tid,
            tenant="t",
            kind=RETRIEVAL,
            channel="bwp",
            subject_type="SHOPPER",
            subject_email="",
            subject_ref="ref-1",
            status=IN_PROGRESS,
            now=now,
            due_at=now,
            subject_identities=identities,
        )
    return tid


def test_a_tasks_identities_are_ciphertext_in_the_table(db: Database) -> None:
    tid = _task(db, IDENTITIES)
    raw = _raw(db, "SELECT subject_identities FROM privacy_tasks WHERE id = :id", id=tid)
    assert raw.startswith(PREFIX) and PHONE not in raw and "C-000417" not in raw and "phone" not in raw
    none = _task(db, None)
    with db.session(write=False) as s:
        assert s.get(PrivacyTask, tid).subject_identities == IDENTITIES  # type: ignore[union-attr]
        assert s.get(PrivacyTask, none).subject_identities is None  # type: ignore[union-attr]
    db.seal_fields(b"w" * 32)
    with pytest.raises(SealedFieldError), db.session(write=False) as s:
        s.get(PrivacyTask, tid)


def test_requesters_and_outbox_messages_are_ciphertext_in_the_table(db: Database) -> None:
    now = FrozenClock().now()
    rid = new_id()
    with db.session() as s:
        verification_repo.add_requester(
            s,
            Requester(
                request_id=rid,
                email="jane.doe@example.com",
                locale="en",
                agent_email="agent@example.org",
                agent_name="Agent Smith",
                created_at=now,
            ),
        )
        mid = outbox_email.queue_email(
            s, now, sender="privacy@shop.test", to="jane.doe@example.com", subject="Your code", text="Code: 123456"
        )
    row = "SELECT email, agent_email, agent_name FROM privacy_center_requesters WHERE request_id = :id"
    with db.engine.connect() as conn:
        stored = [str(v) for v in conn.execute(text(row), {"id": rid}).one()]
    fields = _raw(db, "SELECT fields FROM notification_outbox WHERE id = :id", id=mid)
    for raw in [*stored, fields]:
        assert raw.startswith(PREFIX)
        assert not any(w in raw for w in ("example", "Smith", "123456", "Code"))
    with db.session(write=False) as s:
        who = verification_repo.requester(s, rid)
        assert who is not None and (who.email, who.agent_email, who.agent_name) == (
            "jane.doe@example.com",
            "agent@example.org",
            "Agent Smith",
        )
        message = s.get(OutboxMessage, mid)
        assert message is not None and message.status == PENDING
        assert message.fields["to"] == "jane.doe@example.com" and message.fields["text"] == "Code: 123456"


def _drain(db: Database, seal: Any) -> int:
    total = 0
    while True:
        with db.session() as s:
            done = int(seal(s, limit=2))
        total += done
        if not done:
            return total


def test_clear_rows_read_and_are_sealed_on_request(db: Database) -> None:
    db.seal_fields(None)
    clear = [_task(db, {"phone": f"+49151{n:07d}"}) for n in range(3)]
    now = FrozenClock().now()
    with db.session() as s:
        verification_repo.add_requester(
            s, Requester(request_id="r-clear", email="old@example.com", locale="de", created_at=now)
        )
        mid = outbox_email.queue_email(s, now, sender="a@shop.test", to="old@example.com", subject="s", text="t")
    assert PHONE[:6] in _raw(db, "SELECT subject_identities FROM privacy_tasks WHERE id = :id", id=clear[0])
    db.seal_fields(KEY)
    with db.session(write=False) as s:
        assert s.get(PrivacyTask, clear[0]).subject_identities == {"phone": "+491510000000"}  # type: ignore[union-attr]
    # Each task row holds two columns to seal (its e-mail, "" here, and its identities).
    assert _drain(db, repo.seal_clear_emails) == 6
    assert _drain(db, verification_repo.seal_clear_fields) == 1  # the agent's columns are NULL
    assert _drain(db, outbox_email.seal_clear_fields) == 1
    for n, tid in enumerate(clear):
        raw = _raw(db, "SELECT subject_identities FROM privacy_tasks WHERE id = :id", id=tid)
        assert raw.startswith(PREFIX) and "+49151" not in raw
        with db.session(write=False) as s:
            assert s.get(PrivacyTask, tid).subject_identities == {"phone": f"+49151{n:07d}"}  # type: ignore[union-attr]
    assert _raw(db, "SELECT email FROM privacy_center_requesters WHERE request_id = 'r-clear'").startswith(PREFIX)
    assert _raw(db, "SELECT fields FROM notification_outbox WHERE id = :id", id=mid).startswith(PREFIX)


def test_identities_stored_by_the_former_json_column_survive_the_migration(url: str) -> None:
    engine = make_engine(url)
    try:
        upgrade(engine, "0008_task_identities")  # privacy_tasks with its JSON column, before it was sealed
        now = datetime(2026, 12, 5, 4, 0, tzinfo=FrozenClock().now().tzinfo)
        old = sa.table(
            "privacy_tasks",
            *(sa.column(c, sa.String()) for c in ("id", "tenant", "kind", "channel", "subject_type")),
            *(sa.column(c, sa.String()) for c in ("subject_email", "subject_ref", "status")),
            sa.column("errors", sa.JSON()),
            *(sa.column(c, UtcDateTime()) for c in ("submitted_at", "updated_at", "due_at")),
            sa.column("attempts", sa.Integer()),
            sa.column("subject_identities", sa.JSON()),
        )
        row = {"tenant": "t", "kind": RETRIEVAL, "channel": "bwp", "subject_type": "SHOPPER", "subject_email": ""}
        row |= {"subject_ref": "r", "status": IN_PROGRESS, "errors": [], "attempts": 0}
        row |= {"submitted_at": now, "updated_at": now, "due_at": now}
        with engine.begin() as conn:
            conn.execute(sa.insert(old), [{**row, "id": "old-1", "subject_identities": IDENTITIES}])
            conn.execute(sa.insert(old), [{**row, "id": "old-2", "subject_identities": None}])
        upgrade(engine)
    finally:
        engine.dispose()
    database = Database(make_engine(url))
    try:
        database.seal_fields(KEY)
        with database.session(write=False) as s:
            assert s.get(PrivacyTask, "old-1").subject_identities == IDENTITIES  # type: ignore[union-attr]
            assert s.get(PrivacyTask, "old-2").subject_identities is None  # type: ignore[union-attr]
        with database.session() as s:
            assert repo.seal_clear_emails(s) >= 1
        assert _raw(database, "SELECT subject_identities FROM privacy_tasks WHERE id = 'old-1'").startswith(PREFIX)
        with database.session(write=False) as s:
            assert s.get(PrivacyTask, "old-1").subject_identities == IDENTITIES  # type: ignore[union-attr]
    finally:
        database.dispose()


def test_a_manual_steps_identities_written_in_clear_are_sealed_on_request(db: Database) -> None:
    from dsar.manual import service as manual_service
    from dsar.manual.models import ManualStep

    now = FrozenClock().now()

    def step(sid: str) -> ManualStep:
        return ManualStep(
            id=sid,
            task_id=new_id(),
            source="vendor",
            action=RETRIEVAL,
            subject='{"email": "jane.doe@example.com"}',
            created_at=now,
            deadline_at=now,
            remind_at=now,
            files=[],
        )

    db.seal_fields(None)
    with db.session() as s:
        s.add(step("clear"))
    db.seal_fields(KEY)
    with db.session() as s:
        s.add(step("sealed"))
    assert _drain(db, manual_service.seal_clear_fields) == 1
    for sid in ("clear", "sealed"):
        raw = _raw(db, "SELECT subject FROM manual_steps WHERE id = :id", id=sid)
        assert raw.startswith(PREFIX) and "jane" not in raw
        with db.session(write=False) as s:
            assert s.get(ManualStep, sid).subject == '{"email": "jane.doe@example.com"}'  # type: ignore[union-attr]
