"""Subjects' e-mails sealed in dsar's own state (`dsar.db.sealed.SealedText`), on SQLite, PostgreSQL and MariaDB:
ciphertext in the table, the e-mail through the models, lookups by the keyed hash beside it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text

from dsar.db.engine import Database, make_engine
from dsar.db.migrate import upgrade
from dsar.db.sealed import PREFIX, SealedFieldError
from dsar.kit.clock import FrozenClock
from dsar.kit.ids import new_id
from dsar.odr import repository as odr_repo
from dsar.odr.models import OdrRefreshToken
from dsar.tasks import repository as repo
from dsar.tasks.models import IN_PROGRESS, RETRIEVAL, PrivacyTask

EMAIL = "Jane.Doe+dsar@example.com"
KEY = b"f" * 32


@pytest.fixture(params=["sqlite", "postgres", "mariadb"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    urls = {"postgres": "pg_url", "mariadb": "mysql_url"}
    url = (
        f"sqlite:///{tmp_path / 's.sqlite3'}"
        if request.param == "sqlite"
        else request.getfixturevalue(urls[request.param])
    )
    database = Database(make_engine(url))
    upgrade(database.engine)
    database.seal_fields(KEY)
    yield database
    database.dispose()


def _task(db: Database, email: str = EMAIL, ref: str = "ref-1") -> str:
    tid, now = new_id(), FrozenClock().now()
    with db.session() as s:
        s.add(
            PrivacyTask(
                id=tid,
                tenant="t",
                kind=RETRIEVAL,
                subject_email=email,
                subject_ref=ref,
                status=IN_PROGRESS,
                errors=[],
                submitted_at=now,
                updated_at=now,
                due_at=now,
                attempts=0,
            )
        )
    return tid


def _raw(db: Database, tid: str) -> str:
    with db.engine.connect() as conn:
        return str(
            conn.execute(text("SELECT subject_email FROM privacy_tasks WHERE id = :id"), {"id": tid}).scalar_one()
        )


def test_the_email_is_ciphertext_in_the_table_and_clear_through_the_model(db: Database) -> None:
    tid = _task(db)
    raw = _raw(db, tid)
    assert raw.startswith(PREFIX) and "example.com" not in raw.lower() and "jane" not in raw.lower()
    assert _raw(db, _task(db)) != raw  # a fresh nonce each time: equal e-mails do not look alike
    with db.session(write=False) as s:
        assert s.get(PrivacyTask, tid).subject_email == EMAIL  # type: ignore[union-attr]
        found = s.scalars(select(PrivacyTask.subject_email).where(PrivacyTask.subject_ref == "ref-1")).all()
        assert found == [EMAIL, EMAIL]  # looked up by the keyed hash, never by the ciphertext


def test_rows_written_in_clear_still_read_and_a_wrong_key_fails(db: Database) -> None:
    db.seal_fields(None)
    clear = _task(db, "old@example.com")
    assert _raw(db, clear) == "old@example.com"
    db.seal_fields(KEY)
    sealed = _task(db)
    with db.session(write=False) as s:
        assert s.get(PrivacyTask, clear).subject_email == "old@example.com"  # type: ignore[union-attr]
    db.seal_fields(b"w" * 32)
    with pytest.raises(SealedFieldError), db.session(write=False) as s:
        s.execute(select(PrivacyTask.subject_email).where(PrivacyTask.id == sealed)).scalar_one()
    db.seal_fields(None)
    with pytest.raises(SealedFieldError, match="encryption at rest is off"), db.session(write=False) as s:
        s.execute(select(PrivacyTask.subject_email).where(PrivacyTask.id == sealed)).scalar_one()


def test_rows_written_in_clear_are_sealed_on_request(db: Database) -> None:
    db.seal_fields(None)
    clear = [_task(db, f"old{n}@example.com") for n in range(5)]
    db.seal_fields(KEY)
    already = _task(db)
    before = _raw(db, already)
    total = 0
    while True:
        with db.session() as s:
            done = repo.seal_clear_emails(s, limit=2)
        total += done
        if not done:
            break
    assert total == 5
    assert _raw(db, already) == before  # sealed values are left as they are
    with db.session(write=False) as s:
        for n, tid in enumerate(clear):
            assert _raw(db, tid).startswith(PREFIX)
            assert s.get(PrivacyTask, tid).subject_email == f"old{n}@example.com"  # type: ignore[union-attr]


def test_odr_emails_are_sealed_and_clear_ones_sealed_on_request(db: Database) -> None:
    now = FrozenClock().now()

    def token(name: str) -> OdrRefreshToken:
        return OdrRefreshToken(
            token_hash=name,
            family="f",
            email=f"{name}@example.com",
            client_id="c",
            created_at=now,
            expires_at=now,
            revoked=False,
        )

    db.seal_fields(None)
    with db.session() as s:
        odr_repo.add_refresh(s, token("clear"))
    db.seal_fields(KEY)
    with db.session() as s:
        odr_repo.add_refresh(s, token("sealed"))
    with db.session() as s:
        assert odr_repo.seal_clear_emails(s) == 1
    with db.engine.connect() as conn:
        raw = {str(k): str(v) for k, v in conn.execute(text("SELECT token_hash, email FROM odr_refresh_tokens"))}
    assert all(v.startswith(PREFIX) and "example.com" not in v for v in raw.values())
    with db.session(write=False) as s:
        assert s.get(OdrRefreshToken, "clear").email == "clear@example.com"  # type: ignore[union-attr]
