"""Privacy requests as cases on real state databases (SQLite and PostgreSQL), on a frozen clock."""

from __future__ import annotations

import random
import statistics
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from dsar.db.engine import Database, make_engine
from dsar.db.migrate import upgrade
from dsar.errors import Conflict, InvalidInput, NotFound
from dsar.kit.clock import FrozenClock
from dsar.kit.ids import new_id
from dsar.requests.rules import load_rules
from dsar.requests.service import Filter, PrivacyRequests

EMAIL = "Jane.Doe@example.com"
START = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)  # a Thursday


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'state.sqlite3'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    database = Database(make_engine(url))
    upgrade(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def events() -> list[tuple[str, str, str]]:
    return []


@pytest.fixture
def svc(db: Database, clock: FrozenClock, events: list[tuple[str, str, str]]) -> PrivacyRequests:
    return PrivacyRequests(
        db=db,
        clock=clock,
        rules=load_rules(),
        subject_key=b"k" * 32,
        on_events=lambda s, evs: events.extend((e.tenant, e.request_id, e.kind) for e in evs),
    )


def test_a_request_opens_with_its_legal_deadline_and_a_timeline(svc: PrivacyRequests, events: list) -> None:
    rid = svc.open(tenant="t1", type="access", channel="bwp", email=EMAIL, actor="client:c1", jurisdiction="us-ca")
    view = svc.get("t1", rid)
    assert (view.rule, view.jurisdiction, view.status) == ("ccpa", "US-CA", "received")
    assert (view.due_on, view.extendable_until, view.confirm_by) == (
        date(2026, 3, 1),
        date(2026, 4, 15),
        date(2026, 1, 29),
    )
    assert view.days_left == 45 and not view.overdue
    assert view.subject == "J***@example.com"
    assert [e.kind for e in view.timeline] == ["received"]
    assert events == [("t1", rid, "received")]


def test_no_personal_data_is_stored_only_a_keyed_hash_and_a_masked_email(svc: PrivacyRequests, db: Database) -> None:
    rid = svc.open(tenant="t1", type="deletion", channel="odr", email=EMAIL, actor="subject")
    svc.comment("t1", rid, actor="op:1", text="called the customer back")
    with db.engine.connect() as conn:
        dumped = " ".join(
            str(row)
            for table in ("privacy_requests", "privacy_request_events", "privacy_request_tasks")
            for row in conn.execute(text(f"SELECT * FROM {table}"))
        )
    assert "jane.doe" not in dumped.lower() and "ane.Doe" not in dumped
    assert svc.page("t1", Filter(subject_ref=svc.subject_ref("jane.doe@EXAMPLE.com "))).items[0].id == rid


def test_a_foreign_or_malformed_id_answers_like_an_unknown_one(svc: PrivacyRequests) -> None:
    rid = svc.open(tenant="t1", type="access", channel="bwp", email=EMAIL, actor="a")
    for tenant, request_id in (("t2", rid), ("t1", new_id()), ("t1", "not-a-uuid")):
        with pytest.raises(NotFound, match="no privacy request"):
            svc.get(tenant, request_id)
        with pytest.raises(NotFound):
            svc.approve(tenant, request_id, actor="op")


def test_approve_then_tasks_complete_the_request(svc: PrivacyRequests, db: Database, clock: FrozenClock) -> None:
    rid = svc.open(tenant="t1", type="access", channel="console", email=EMAIL, actor="op:1", jurisdiction="FR")
    svc.approve("t1", rid, actor="op:2")
    with db.session() as s:
        svc.link_task_in(s, "t1", rid, "task-1", actor="op:2")
        svc.link_task_in(s, "t1", rid, "task-2", actor="op:2")
    clock.advance(timedelta(days=3))
    with db.session() as s:
        svc.task_ended_in(s, "task-1", "COMPLETED")
    assert svc.get("t1", rid).status == "in_progress"  # one of two tasks done
    with db.session() as s:
        svc.task_ended_in(s, "task-2", "COMPLETED")
    view = svc.get("t1", rid)
    assert view.status == "completed" and view.responded_at == START + timedelta(days=3)
    assert (view.decision, view.decided_by) == ("approved", "op:2")
    assert [e.kind for e in view.timeline] == [
        "received",
        "approved",
        "task_started",
        "task_started",
        "task_ended",
        "task_ended",
        "responded",
    ]
    assert view.task_ids == ["task-1", "task-2"]
    with pytest.raises(Conflict, match="completed cannot be denied"):
        svc.deny("t1", rid, actor="op", basis="excessive")


def test_opened_by_policy_with_its_task_in_one_transaction(svc: PrivacyRequests, db: Database) -> None:
    with db.session() as s:
        rid = svc.open_in(
            s,
            tenant="t1",
            type="access",
            channel="bwp",
            email=EMAIL,
            actor="client:c",
            task_ids=["t-9"],
            approved_by_policy=True,
        )
    with db.session() as s:
        svc.task_ended_in(s, "t-9", "FAILED", "DATA_SUBJECT_NOT_FOUND")
    view = svc.get("t1", rid)
    assert (view.status, view.decision, view.decision_basis, view.decided_by) == (
        "denied",
        "denied",
        "no_data_held",
        "engine",
    )


def test_a_task_failing_for_another_reason_leaves_the_request_open(svc: PrivacyRequests, db: Database) -> None:
    rid = svc.open(
        tenant="t1", type="access", channel="bwp", email=EMAIL, actor="c", task_ids=["t-1"], approved_by_policy=True
    )
    with db.session() as s:
        svc.task_ended_in(s, "t-1", "FAILED", "SOURCE_UNAVAILABLE")
        svc.task_ended_in(s, "unknown-task", "COMPLETED")  # not under any request: nothing happens
    view = svc.get("t1", rid)
    assert view.status == "in_progress" and view.timeline[-1].data == {
        "task_id": "t-1",
        "status": "FAILED",
        "error": "SOURCE_UNAVAILABLE",
    }


def test_deny_needs_a_known_basis_and_a_law_for_an_exemption(svc: PrivacyRequests) -> None:
    rid = svc.open(tenant="t1", type="access", channel="bwp", email=EMAIL, actor="c")
    with pytest.raises(InvalidInput, match="unknown basis"):
        svc.deny("t1", rid, actor="op", basis="because")
    with pytest.raises(InvalidInput, match="name the law"):
        svc.deny("t1", rid, actor="op", basis="legal_exemption")
    assert svc.get("t1", rid).status == "received"  # a refused change changes nothing
    view = svc.deny("t1", rid, actor="op:7", basis="legal_exemption", law="GDPR Art. 23(1)(e)", note="tax inquiry")
    assert (view.status, view.decision_basis, view.decision_law) == ("denied", "legal_exemption", "GDPR Art. 23(1)(e)")
    assert view.timeline[-1].data == {"basis": "legal_exemption", "law": "GDPR Art. 23(1)(e)", "note": "tax inquiry"}


def test_extension_once_before_the_deadline(svc: PrivacyRequests, clock: FrozenClock) -> None:
    rid = svc.open(tenant="t1", type="access", channel="bwp", email=EMAIL, actor="c", jurisdiction="DE")
    assert svc.get("t1", rid).due_on == date(2026, 2, 16)
    with pytest.raises(Conflict, match="needs a reason"):
        svc.extend("t1", rid, actor="op", reason="")
    view = svc.extend("t1", rid, actor="op", reason="records in three archives")
    assert (view.due_on, view.extended_on, view.extension_reason) == (
        date(2026, 4, 15),
        date(2026, 1, 15),
        "records in three archives",
    )
    with pytest.raises(Conflict, match="extended already"):
        svc.extend("t1", rid, actor="op", reason="again")
    late = svc.open(tenant="t1", type="access", channel="bwp", email=EMAIL, actor="c", jurisdiction="US-VA")
    clock.advance(timedelta(days=46))
    assert svc.get("t1", late).overdue and svc.get("t1", late).days_left == -1
    with pytest.raises(Conflict, match="has passed"):
        svc.extend("t1", late, actor="op", reason="too late")
    assert [v.id for v in svc.page("t1", svc.overdue_filter()).items] == [late]


def test_partial_answer_names_what_was_withheld(svc: PrivacyRequests, db: Database) -> None:
    rid = svc.open(
        tenant="t1", type="access", channel="bwp", email=EMAIL, actor="c", task_ids=["t"], approved_by_policy=True
    )
    svc.withhold("t1", rid, actor="op", collections=["shop.reviews"], basis="others_rights")
    with db.session() as s:
        svc.task_ended_in(s, "t", "COMPLETED")
    view = svc.get("t1", rid)
    assert (view.status, view.decision, view.withheld) == (
        "completed",
        "partial",
        [{"collection": "shop.reviews", "basis": "others_rights"}],
    )


def test_pages_are_newest_first_and_filtered(svc: PrivacyRequests, clock: FrozenClock) -> None:
    ids = []
    for i in range(7):
        ids.append(
            svc.open(tenant="t1", type="access" if i % 2 else "deletion", channel="bwp", email=f"u{i}@x.io", actor="c")
        )
        clock.advance(timedelta(minutes=1))
    svc.open(tenant="t2", type="access", channel="bwp", email="other@x.io", actor="c")
    first = svc.page("t1", first=3)
    assert [v.id for v in first.items] == ids[::-1][:3] and first.has_next_page
    second = svc.page("t1", first=3, after=first.end_cursor)
    third = svc.page("t1", first=3, after=second.end_cursor)
    assert [v.id for v in second.items + third.items] == ids[::-1][3:] and not third.has_next_page
    assert {v.id for v in svc.page("t1", Filter(type="access")).items} == {ids[1], ids[3], ids[5]}
    with pytest.raises(InvalidInput, match="not a cursor"):
        svc.page("t1", after="garbage")


def test_the_record_survives_and_is_purged_after_retention(svc: PrivacyRequests, clock: FrozenClock) -> None:
    rid = svc.open(tenant="t1", type="deletion", channel="bwp", email=EMAIL, actor="c")
    svc.deny("t1", rid, actor="op", basis="identity_not_verified")
    rows = list(svc.record("t1", date(2026, 1, 1), date(2026, 2, 1)))
    assert [(r["request_id"], r["decision_basis"], r["subject"]) for r in rows] == [
        (rid, "identity_not_verified", "J***@example.com")
    ]
    clock.advance(timedelta(days=365 * 2 - 10))
    assert svc.purge_expired() == 0
    clock.advance(timedelta(days=20))  # 24 months after the response
    assert svc.purge_expired() == 1
    with pytest.raises(NotFound):
        svc.get("t1", rid)


def test_metrics_over_a_generated_history_match_an_independent_count(
    svc: PrivacyRequests, db: Database, clock: FrozenClock
) -> None:
    rng = random.Random(7)
    expected: dict[str, dict[str, object]] = {}
    n = 1000
    with db.session() as s:
        for i in range(n):
            rtype = rng.choice(["access", "deletion", "rectification", "opt_out"])
            rid = svc.open_in(
                s,
                tenant="t1",
                type=rtype,
                channel="bwp",
                email=f"p{i}@x.io",
                actor="c",
                task_ids=[f"t{i}"],
                approved_by_policy=True,
            )
            fate = rng.choice(["whole", "part", "denied", "open"])
            e = expected.setdefault(rtype, {"received": 0, "whole": 0, "part": 0, "denied": 0, "open": 0, "days": []})
            e["received"] += 1  # type: ignore[operator]
            e[fate] += 1  # type: ignore[operator]
            if fate == "open":
                continue
            days = rng.randint(0, 40)
            clock.advance(timedelta(days=days))
            if fate == "denied":
                s.flush()
                svc.task_ended_in(s, f"t{i}", "FAILED", "DATA_SUBJECT_NOT_FOUND")
            else:
                if fate == "part":
                    s.execute(text("UPDATE privacy_requests SET decision = 'partial' WHERE id = :id"), {"id": rid})
                svc.task_ended_in(s, f"t{i}", "COMPLETED")
            e["days"].append(days)  # type: ignore[union-attr]
            clock.advance(timedelta(days=-days))
    m = svc.metrics("t1", date(2026, 1, 1), date(2027, 1, 1))
    assert set(m.by_type) == set(expected)
    for rtype, e in expected.items():
        got = m.by_type[rtype]
        days = e["days"]
        assert (got.received, got.complied_whole, got.complied_part, got.denied, got.open) == (
            e["received"],
            e["whole"],
            e["part"],
            e["denied"],
            e["open"],
        )
        assert got.denied_by_basis == ({"no_data_held": e["denied"]} if e["denied"] else {})
        assert got.median_days == statistics.median(days)  # type: ignore[arg-type]
        assert got.mean_days == round(statistics.fmean(days), 2)  # type: ignore[arg-type]
    assert svc.metrics("t2", date(2026, 1, 1), date(2027, 1, 1)).by_type == {}


def _running_task(svc: PrivacyRequests, db: Database, rid: str, status: str = "IN_PROGRESS") -> str:
    from dsar.tasks import repository as tasks_repo

    task_id = new_id()
    with db.session() as s:
        tasks_repo.add_task(
            s,
            task_id=task_id,
            tenant="t1",
            kind="retrieval",
            channel="bwp",
            subject_type="SHOPPER",
            subject_email=EMAIL,
            subject_ref=svc.subject_ref(EMAIL),
            status=status,
            now=START,
            due_at=START,
        )
        s.flush()
        svc.link_task_in(s, "t1", rid, task_id, actor="intake")
    return task_id


def test_an_operator_completes_a_request_with_no_engine_work_with_a_note(
    svc: PrivacyRequests, db: Database, events: list
) -> None:
    rid = svc.open(tenant="t1", type="opt_out", channel="api", email=EMAIL, actor="c", jurisdiction="US-CA")
    with pytest.raises(Conflict, match="received cannot be completed"):
        svc.complete("t1", rid, actor="op", note="done")
    svc.approve("t1", rid, actor="op")
    for blank in ("", "   "):
        with pytest.raises(InvalidInput, match="needs a note"):
            svc.complete("t1", rid, actor="op", note=blank)
    assert svc.get("t1", rid).status == "in_progress"  # nothing changed
    events.clear()
    view = svc.complete("t1", rid, actor="op:ann", note="  opt-out set in the CRM  ")
    assert view.status == "completed" and view.responded_at is not None
    last = view.timeline[-1]
    assert (last.kind, last.actor, last.data) == ("responded", "op:ann", {"note": "opt-out set in the CRM"})
    assert events == [("t1", rid, "responded")]  # the same webhook event as any completion
    with pytest.raises(Conflict, match="completed cannot be completed"):
        svc.complete("t1", rid, actor="op", note="again")


def test_completing_by_hand_is_refused_while_an_engine_task_runs(svc: PrivacyRequests, db: Database) -> None:
    rid = svc.open(tenant="t1", type="access", channel="console", email=EMAIL, actor="c", jurisdiction="FR")
    svc.approve("t1", rid, actor="op")
    _running_task(svc, db, rid)
    with pytest.raises(Conflict, match="still running") as refused:
        svc.complete("t1", rid, actor="op", note="sent by post")
    assert refused.value.code == "TasksRunning" and svc.get("t1", rid).status == "in_progress"
    failed = svc.open(tenant="t1", type="access", channel="console", email=EMAIL, actor="c", jurisdiction="FR")
    svc.approve("t1", failed, actor="op")
    _running_task(svc, db, failed, status="FAILED")  # a failed task leaves the case to the team: it may answer
    assert svc.complete("t1", failed, actor="op", note="answered by hand").status == "completed"
