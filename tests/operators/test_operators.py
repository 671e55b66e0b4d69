"""Operators: TOTP against RFC 6238's vectors, sign-in with lock-out, sessions, roles and the audit chain."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import text

from dsar.db.engine import Database, make_engine
from dsar.db.migrate import upgrade
from dsar.errors import InvalidInput, NotFound
from dsar.kit.clock import FrozenClock
from dsar.operators import totp
from dsar.operators.roles import allowed
from dsar.operators.service import Operators, SignInRefused

FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # the real cost is the default; tests run many
PASSWORD = "correct horse battery"


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'state.sqlite3'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    database = Database(make_engine(url))
    upgrade(database.engine)
    yield database
    database.engine.dispose()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


@pytest.fixture
def ops(db: Database, clock: FrozenClock) -> Operators:
    return Operators(db=db, clock=clock, key=b"m" * 32, public_url="https://dsar.example.com/", hasher=FAST)


def _token(link: str) -> str:
    assert link.startswith("https://dsar.example.com/console/setup?token=")
    return link.split("token=", 1)[1]


def test_totp_matches_the_rfc_6238_vectors() -> None:
    key = b"12345678901234567890"  # RFC 6238 Appendix B, SHA-1
    for unix, expected in [
        (59, "94287082"),
        (1111111109, "07081804"),
        (1234567890, "89005924"),
        (20000000000, "65353130"),
    ]:
        assert totp.hotp(key, unix // 30, digits=8) == expected
    secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # base32 of the same key
    assert totp.code_at(secret, 59) == "287082"
    assert totp.verify(secret, "287082", 59) == 1
    assert totp.verify(secret, "287082", 59 + 90) is None
    assert totp.uri(secret, "a@example.com").startswith("otpauth://totp/dsar%3Aa%40example.com?secret=")


def test_a_created_operator_sets_a_password_once_and_signs_in(ops: Operators) -> None:
    view, link = ops.create("Ann@Example.com", "approver", actor="cli")
    assert view.email == "ann@example.com" and not view.has_password
    with pytest.raises(InvalidInput):
        ops.set_password(_token(link), "short")
    ops.set_password(_token(link), PASSWORD)
    with pytest.raises(NotFound):
        ops.set_password(_token(link), PASSWORD + "x")  # one-time
    token, me = ops.sign_in("ann@example.com", PASSWORD)
    found = ops.session(token)
    assert found is not None and found[1].id == me.id and found[1].role == "approver"
    ops.sign_out(token, actor=me.email)
    assert ops.session(token) is None


def test_a_forged_or_expired_link_is_refused(ops: Operators, clock: FrozenClock) -> None:
    _view, link = ops.create("b@example.com", "viewer", actor="cli")
    token = _token(link)
    with pytest.raises(NotFound):
        ops.set_password(token[:-2] + "xx", PASSWORD)
    clock.advance(timedelta(hours=73))
    with pytest.raises(NotFound):
        ops.set_password(token, PASSWORD)


def test_repeated_failures_lock_the_account_and_the_answer_never_says_why(ops: Operators, clock: FrozenClock) -> None:
    _view, link = ops.create("c@example.com", "viewer", actor="cli")
    ops.set_password(_token(link), PASSWORD)
    messages = set()
    for _ in range(5):
        with pytest.raises(SignInRefused) as refused:
            ops.sign_in("c@example.com", "wrong password!")
        messages.add(str(refused.value))
    with pytest.raises(SignInRefused) as refused:
        ops.sign_in("c@example.com", PASSWORD)  # locked: even the right password
    messages.add(str(refused.value))
    with pytest.raises(SignInRefused) as refused:
        ops.sign_in("nobody@example.com", PASSWORD)
    messages.add(str(refused.value))
    assert len(messages) == 1
    clock.advance(timedelta(minutes=16))
    assert ops.sign_in("c@example.com", PASSWORD)[1].email == "c@example.com"


def test_totp_is_required_once_enabled_and_a_code_works_once(ops: Operators, clock: FrozenClock) -> None:
    view, link = ops.create("d@example.com", "admin", actor="cli")
    ops.set_password(_token(link), PASSWORD)
    secret = ops.new_totp_secret()
    now = clock.now().timestamp()
    with pytest.raises(InvalidInput):
        ops.enable_totp(view.id, secret, "000000" if totp.code_at(secret, now) != "000000" else "111111")
    ops.enable_totp(view.id, secret, totp.code_at(secret, now))
    clock.advance(timedelta(seconds=30))
    with pytest.raises(SignInRefused):
        ops.sign_in("d@example.com", PASSWORD)  # no code
    code = totp.code_at(secret, clock.now().timestamp())
    assert ops.sign_in("d@example.com", PASSWORD, code)[1].totp
    with pytest.raises(SignInRefused):
        ops.sign_in("d@example.com", PASSWORD, code)  # replayed


def test_an_idle_session_ends(ops: Operators, clock: FrozenClock) -> None:
    _view, link = ops.create("e@example.com", "viewer", actor="cli")
    ops.set_password(_token(link), PASSWORD)
    token, _me = ops.sign_in("e@example.com", PASSWORD)
    clock.advance(timedelta(minutes=20))
    assert ops.session(token) is not None  # seen again: the idle time starts over
    clock.advance(timedelta(minutes=29))
    assert ops.session(token) is not None
    clock.advance(timedelta(minutes=31))
    assert ops.session(token) is None


def test_roles() -> None:
    assert allowed("approver", "requests.decide") and allowed("admin", "requests.decide")
    assert not allowed("viewer", "requests.decide") and not allowed("respondent", "requests.decide")
    assert allowed("respondent", "requests.comment", assigned=True)
    assert not allowed("respondent", "requests.comment", assigned=False)
    assert allowed("approver", "requests.comment", assigned=False)
    assert not allowed("approver", "operators.manage") and allowed("admin", "operators.manage")
    assert not allowed("viewer", "no.such.permission")


def test_the_audit_chain_detects_an_edited_a_deleted_and_a_forged_entry(ops: Operators, db: Database) -> None:
    for i in range(5):
        ops.record("ann@example.com", "reveal", f"req-{i}", {"why": "check"})
    assert ops.verify_audit().ok and ops.verify_audit().entries == 5
    exported = ops.export_audit("csv", actor="ann@example.com")
    assert exported.splitlines()[0] == "seq,at,actor,action,target,detail,prev_hash,hash"
    assert len(exported.splitlines()) == 6
    with db.engine.begin() as c:
        c.execute(text("UPDATE operator_audit SET target = 'req-x' WHERE seq = 3"))
    result = ops.verify_audit()
    assert not result.ok and result.first_bad == 3 and "edited" in (result.reason or "")
    with db.engine.begin() as c:
        c.execute(text("UPDATE operator_audit SET target = 'req-2' WHERE seq = 3"))
    assert ops.verify_audit().ok
    with db.engine.begin() as c:
        c.execute(text("DELETE FROM operator_audit WHERE seq = 4"))
    result = ops.verify_audit()
    assert not result.ok and result.first_bad == 5
    # an attacker without the key cannot make a matching hash: a chain made with another key fails
    other = Operators(db=db, clock=ops.clock, key=b"x" * 32, public_url="https://x", hasher=FAST)
    assert not other.verify_audit().ok


def test_a_disabled_operator_loses_their_sessions_and_cannot_sign_in(ops: Operators) -> None:
    view, link = ops.create("f@example.com", "approver", actor="cli")
    ops.set_password(_token(link), PASSWORD)
    token, _me = ops.sign_in("f@example.com", PASSWORD)
    ops.change(view.id, actor="admin@example.com", role="viewer")
    assert ops.get(view.id).role == "viewer"
    ops.change(view.id, actor="admin@example.com", disabled=True)
    assert ops.session(token) is None
    with pytest.raises(SignInRefused):
        ops.sign_in("f@example.com", PASSWORD)
    changes = [e.detail for e in ops.audit_entries(limit=3) if e.action == "operator_changed"]
    assert {"disabled": True} in changes and {"role": ["approver", "viewer"]} in changes
