"""Reminders before due, overdue and late answers in the metrics, subjects' preferences and the categories-only
answer, on real state databases (SQLite and PostgreSQL) and a frozen clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from dsar.datamap.model import DataMap
from dsar.db.engine import Database, make_engine
from dsar.db.migrate import upgrade
from dsar.errors import InvalidInput
from dsar.kit.clock import FrozenClock
from dsar.requests.categories import CategoriesRequests, categories_of
from dsar.requests.events import CaseEvent, PreferenceEvent
from dsar.requests.preferences import SubjectPreferences
from dsar.requests.rules import load_rules
from dsar.requests.service import PrivacyRequests

START = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)  # a Thursday
JANE = "Jane.Doe@example.com"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
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
def sent() -> list[Any]:
    return []


@pytest.fixture
def svc(db: Database, clock: FrozenClock, sent: list[Any]) -> PrivacyRequests:
    return PrivacyRequests(
        db=db,
        clock=clock,
        rules=load_rules(),
        subject_key=b"k" * 32,
        remind_days_before=7,
        on_events=lambda s, evs: sent.extend(evs),
    )


def _open(svc: PrivacyRequests, place: str = "US-CA", tenant: str = "t1") -> str:
    return svc.open(tenant=tenant, type="access", channel="console", email=JANE, actor="op", jurisdiction=place)


def test_a_reminder_goes_once_per_due_date_days_before_it(svc: PrivacyRequests, clock: FrozenClock, sent: list) -> None:
    rid = _open(svc)  # CCPA: due 2026-03-01
    done = _open(svc)
    svc.approve("t1", done, actor="op")
    svc.complete("t1", done, actor="op", note="answered by letter")
    clock.advance(timedelta(days=37))  # 2026-02-21: 8 days left
    assert svc.remind() == 0
    clock.advance(timedelta(days=1))  # 7 days left
    sent.clear()
    assert svc.remind() == 1
    assert svc.remind() == 0  # once
    (event,) = sent
    assert isinstance(event, CaseEvent)
    assert (event.request_id, event.kind, event.data) == (rid, "reminder", {"due_on": "2026-03-01", "days_left": 7})
    svc.extend("t1", rid, actor="op", reason="three systems")  # due 2026-04-15: a new due date, a new reminder
    clock.advance(timedelta(days=46))  # 2026-04-08
    assert svc.remind() == 1
    assert [e.kind for e in svc.get("t1", rid).timeline].count("reminder") == 2


def test_reminders_can_be_turned_off(db: Database, clock: FrozenClock) -> None:
    off = PrivacyRequests(db=db, clock=clock, rules=load_rules(), subject_key=b"k" * 32, remind_days_before=0)
    off.open(tenant="t1", type="access", channel="console", email=JANE, actor="op")
    clock.advance(timedelta(days=400))
    assert off.remind() == 0


def test_overdue_and_late_answers_are_counted(svc: PrivacyRequests, db: Database, clock: FrozenClock) -> None:
    on_time, late, overdue, _open_in_time = (_open(svc) for _ in range(4))  # all due 2026-03-01
    for rid in (on_time, late):
        svc.approve("t1", rid, actor="op")
    clock.advance(timedelta(days=45))  # 2026-03-01: the last day
    svc.complete("t1", on_time, actor="op", note="answered")
    clock.advance(timedelta(days=1))
    svc.complete("t1", late, actor="op", note="answered")
    with db.session() as s:  # one more received later, not yet due
        s.execute(
            text("UPDATE privacy_requests SET due_on = :d WHERE id = :id"), {"d": date(2026, 5, 1), "id": _open_in_time}
        )
    m = svc.metrics("t1", date(2026, 1, 1), date(2027, 1, 1)).by_type["access"]
    assert (m.received, m.complied_whole, m.open, m.overdue, m.late) == (4, 2, 2, 1, 1)
    assert [v.id for v in svc.page("t1", svc.overdue_filter()).items] == [overdue]


def test_a_preference_is_a_case_answered_at_once_and_a_standing_choice(
    svc: PrivacyRequests, db: Database, sent: list
) -> None:
    changes: list[PreferenceEvent] = []
    prefs = SubjectPreferences(svc, on_change=lambda s, e: changes.append(e))
    done = prefs.record("t1", JANE, "restriction", scope="marketing", channel="console", actor="op", jurisdiction="FR")
    case = svc.get("t1", done.request_id)
    assert (case.type, case.status, case.rule, case.decided_by) == ("restriction", "completed", "gdpr", "policy")
    assert [e.kind for e in case.timeline] == ["received", "approved", "preference_recorded", "responded"]
    prefs.record("t1", " jane.doe@EXAMPLE.com ", "restriction", active=False, channel="console", actor="op")
    ref, views = prefs.of_email("t1", JANE)
    assert ref == done.subject_ref == svc.subject_ref(JANE)
    assert [(v.preference, v.active, v.scope, v.law) for v in views] == [("restriction", False, None, "GDPR Art. 18")]
    assert prefs.of_subject("t2", ref) == []  # another tenant's subject
    assert [(c.preference, c.active) for c in changes] == [("restriction", True), ("restriction", False)]
    with db.engine.connect() as conn:
        stored = " ".join(str(r) for r in conn.execute(text("SELECT * FROM privacy_preferences")))
    assert "jane" not in stored.lower()
    with pytest.raises(InvalidInput, match="unknown preference"):
        prefs.record("t1", JANE, "sell_everything", channel="console", actor="op")


def test_categories_are_answered_from_the_data_map_alone(svc: PrivacyRequests) -> None:
    dm = DataMap.model_validate(
        {
            "sources": {"shop": {"url": "sqlite:////nonexistent/never-read.sqlite"}},
            "collections": {
                "shop.customers": {
                    "primary_key": ["id"],
                    "identities": {"email": {"column": "email"}},
                    "fields": {"email": {"categories": ["user.contact.email"]}, "name": {"categories": ["user.name"]}},
                    "processing": {
                        "purpose": "Accounts",
                        "legal_basis": "contract",
                        "retention": "1 year",
                        "recipients": ["Hosting"],
                    },
                },
                "shop.orders": {
                    "primary_key": ["id"],
                    "fields": {"total": {"categories": ["user.financial"]}},
                    "processing": {
                        "purpose": "Orders",
                        "legal_basis": "contract",
                        "retention": "10 years",
                        "recipients": ["Carriers", "Hosting"],
                        "origin": "Our shop",
                    },
                },
            },
        }
    )
    answer = categories_of(dm)
    assert answer.categories == ["user.contact.email", "user.financial", "user.name"]
    assert answer.recipients == ["Carriers", "Hosting"] and answer.purposes == ["Accounts", "Orders"]
    assert answer.sources == ["Our shop", "Provided by the data subject"]
    done = CategoriesRequests(svc, lambda: dm).answer("t1", JANE, channel="console", actor="op", jurisdiction="US-CA")
    case = svc.get("t1", done.request_id)
    assert (case.type, case.status, case.rule) == ("categories", "completed", "ccpa")


def test_a_jurisdiction_must_look_like_one(svc: PrivacyRequests) -> None:
    with pytest.raises(InvalidInput, match="jurisdiction"):
        _open(svc, place="California, USA")
    assert svc.get("t1", _open(svc, place=" fr ")).jurisdiction == "FR"


def test_the_data_map_refuses_a_rectifiable_key() -> None:
    from dsar.datamap.loader import parse
    from dsar.errors import DataMapError

    text_ = """
sources:
  shop: {url: "sqlite:///x.sqlite"}
collections:
  shop.customers:
    primary_key: [id]
    identities:
      email: {column: email}
    fields:
      id: {rectifiable: true}
      name: {rectifiable: true}
    processing: {purpose: Accounts, legal_basis: contract, retention: 1 year}
"""
    with pytest.raises(DataMapError, match=r"collections.shop.customers.fields.id: a key or excluded column"):
        parse(text_, "datamap.yaml", {})
    assert (
        parse(text_.replace("      id: {rectifiable: true}\n", ""), "datamap.yaml", {})
        .collections["shop.customers"]
        .fields["name"]
        .rectifiable
    )


def test_every_kind_of_timeline_line_is_a_webhook_event_one_can_subscribe_to() -> None:
    from dsar.notifications.webhooks import CASE_EVENTS
    from dsar.requests.events import EVENT_KINDS, event_type

    assert {event_type(k) for k in EVENT_KINDS} == set(CASE_EVENTS)


def test_datamap_check_says_when_a_rectifiable_field_lives_where_nothing_can_change() -> None:
    from dsar.connectors.base import Capabilities, Connector
    from dsar.connectors.memory import MemoryConnector, MemoryTable
    from dsar.engine.check import check
    from dsar.engine.execute import Sources

    class ReadOnly(MemoryConnector):
        capabilities = Capabilities(erase=False, explain=True, rectify=False)

    dm = DataMap.model_validate(
        {
            "sources": {"crm": {"url": "memory://crm"}, "shop": {"url": "memory://shop"}},
            "collections": {
                f"{name}.people": {
                    "primary_key": ["id"],
                    "identities": {"email": {"column": "email"}},
                    "fields": {"name": {"rectifiable": True}},
                    "processing": {"purpose": "p", "legal_basis": "b", "retention": "r"},
                }
                for name in ("crm", "shop")
            },
        }
    )
    table = {"people": MemoryTable(key=["id"], columns={"id": int, "email": str, "name": str})}

    def connect(name: str, url: str) -> Connector:
        return (ReadOnly if name == "crm" else MemoryConnector)(name, table)

    report = check(dm, Sources(dm, connect))
    assert [e for e in report.errors if "rectifiable" in e] == [
        "crm.people: field(s) name are rectifiable but source 'crm' cannot change values; remove `rectifiable` or "
        "use a source that can"
    ]


def test_concurrent_first_preferences_of_one_subject_all_land(svc: PrivacyRequests) -> None:
    import threading

    prefs = SubjectPreferences(svc)
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def one() -> None:
        barrier.wait()
        try:
            prefs.record("t1", JANE, "opt_out_sharing", channel="console", actor="op")
        except BaseException as exc:  # collected: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [(v.preference, v.active) for v in prefs.of_email("t1", JANE)[1]] == [("opt_out_sharing", True)]
    assert len(svc.page("t1", first=50).items) == 6
