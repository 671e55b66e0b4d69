"""Rectification (GDPR Art. 16) end to end on SQLite, PostgreSQL and MariaDB sources: only `rectifiable` fields
change, a bad value changes nothing, and the privacy request's timeline holds each value before and after."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dsar.bootstrap import Container
from dsar.config import Settings
from dsar.db.migrate import upgrade
from dsar.errors import InvalidInput
from dsar.kit.clock import FrozenClock

JANE = "jane@example.com"
META = sa.MetaData()
sa.Table(
    "customers",
    META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("email", sa.String(100), nullable=False),
    sa.Column("name", sa.String(20), nullable=False),
    sa.Column("birthday", sa.Date),
    sa.Column("points", sa.Integer),
    sa.Column("note", sa.String(50)),  # personal, but not rectifiable
)
sa.Table(
    "addresses",
    META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("customer_id", sa.Integer, nullable=False),
    sa.Column("city", sa.String(30)),
)
ROWS = {
    "customers": [
        {"id": 1, "email": JANE, "name": "Jane Doe", "birthday": date(1990, 1, 2), "points": 5, "note": "vip"},
        {"id": 2, "email": "bob@example.com", "name": "Bob", "birthday": None, "points": 1, "note": None},
    ],
    "addresses": [
        {"id": 10, "customer_id": 1, "city": "Lyon"},
        {"id": 11, "customer_id": 1, "city": "Paris"},
        {"id": 12, "customer_id": 2, "city": "Nice"},
    ],
}
DATAMAP = """
version: 1
sources:
  shop: {{url: "{url}"}}
collections:
  shop.customers:
    primary_key: [id]
    identities:
      email: {{column: email, match: lower_trim}}
    fields:
      name: {{categories: [user.name], rectifiable: true}}
      birthday: {{categories: [user.demographic.date_of_birth], rectifiable: true}}
      points: {{categories: [user.account], rectifiable: true}}
      note: {{categories: [user.account]}}
    processing: {{purpose: Accounts, legal_basis: contract, retention: 1 year, recipients: [Hosting]}}
  shop.addresses:
    primary_key: [id]
    references:
      - {{column: customer_id, to: shop.customers.id}}
    fields:
      city: {{categories: [user.contact.address.city], rectifiable: true}}
    processing: {{purpose: Delivery, legal_basis: contract, retention: 1 year, recipients: [Carriers]}}
"""


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ]
)
def source_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'shop.sqlite'}"
    elif request.param == "postgres":
        url = str(request.getfixturevalue("pg_url"))
    else:
        url = str(request.getfixturevalue("mysql_url"))
    engine = sa.create_engine(url)
    META.create_all(engine)
    with engine.begin() as conn:
        for name, rows in ROWS.items():
            conn.execute(META.tables[name].insert(), rows)
    engine.dispose()
    return url


@pytest.fixture
def container(tmp_path: Path, source_url: str) -> Iterator[Container]:
    (tmp_path / "datamap.yaml").write_text(DATAMAP.format(url=source_url), encoding="utf-8")
    settings = Settings(
        data_dir=tmp_path / "state",
        datamap=tmp_path / "datamap.yaml",
        secret_key="test-secret-key-not-for-production",
        engine={"retry_backoff_seconds": 0.01},
        requests={"default_jurisdiction": "FR"},
    )
    c = Container(settings, clock=FrozenClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC)))
    upgrade(c.db.engine)
    try:
        yield c
    finally:
        c.close()


def rows(url: str, sql: str | sa.Select[Any]) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql) if isinstance(sql, str) else sql)]
    finally:
        engine.dispose()


def run(c: Container, task_id: str) -> dict[str, Any]:
    owner = "test-worker"
    assert c.worker.claim(owner, task_id) == task_id
    c.worker.run(task_id, owner)
    with c.db.engine.connect() as conn:
        status, errors = conn.execute(
            sa.text("SELECT status, errors FROM privacy_tasks WHERE id = :id"), {"id": task_id}
        ).one()
    return {"status": status, "errors": json.loads(errors) if isinstance(errors, str) else errors}


def case_of(c: Container, task_id: str) -> Any:
    page = c.requests.page("default", first=10)
    (view,) = [v for v in page.items if task_id in v.task_ids]
    return c.requests.get("default", view.id)


def test_only_rectifiable_fields_change_and_the_record_holds_before_and_after(
    container: Container, source_url: str
) -> None:
    values = {
        "shop.customers.name": "Jane Smith",
        "shop.customers.birthday": "1990-02-01",
        "shop.addresses.city": "Metz",
    }
    task_id = container.rectifications.start("default", JANE, values, jurisdiction="us-ca")
    assert run(container, task_id)["status"] == "COMPLETED"

    customers = META.tables["customers"]
    assert rows(source_url, sa.select(customers).order_by(customers.c.id)) == [
        (1, JANE, "Jane Smith", date(1990, 2, 1), 5, "vip"),
        (2, "bob@example.com", "Bob", None, 1, None),  # another person's row is untouched
    ]
    assert rows(source_url, "SELECT id, city FROM addresses ORDER BY id") == [(10, "Metz"), (11, "Metz"), (12, "Nice")]

    case = case_of(container, task_id)
    assert (case.type, case.status, case.jurisdiction, case.rule) == ("rectification", "completed", "US-CA", "ccpa")
    (rectified,) = [e for e in case.timeline if e.kind == "rectified"]
    assert rectified.data is not None
    assert sorted(rectified.data["changes"], key=lambda c: (c["collection"], c["field"], str(c["key"]))) == [
        {"collection": "shop.addresses", "key": {"id": 10}, "field": "city", "before": "Lyon", "after": "Metz"},
        {"collection": "shop.addresses", "key": {"id": 11}, "field": "city", "before": "Paris", "after": "Metz"},
        {
            "collection": "shop.customers",
            "key": {"id": 1},
            "field": "birthday",
            "before": "1990-01-02",
            "after": "1990-02-01",
        },
        {
            "collection": "shop.customers",
            "key": {"id": 1},
            "field": "name",
            "before": "Jane Doe",
            "after": "Jane Smith",
        },
    ]


@pytest.mark.parametrize(
    ("values", "issue"),
    [
        ({"shop.customers.note": "x"}, "shop.customers.note is not a rectifiable field"),
        ({"shop.customers.email": "x@example.com"}, "shop.customers.email is not a rectifiable field"),
        ({"shop.customers.points": "many"}, "shop.customers.points: expected a whole number"),
        ({"shop.customers.birthday": "31/12/1990"}, "shop.customers.birthday: expected a date"),
        ({"shop.customers.name": "x" * 21}, "shop.customers.name: at most 20 characters"),
        ({"shop.customers.name": None}, "shop.customers.name: the column needs a value"),
        ({"shop.nowhere.name": "x"}, "shop.nowhere.name is not a rectifiable field"),
    ],
)
def test_a_bad_value_is_refused_and_changes_nothing(
    container: Container, source_url: str, values: dict[str, str | None], issue: str
) -> None:
    good = {"shop.addresses.city": "Metz"}
    with pytest.raises(InvalidInput) as info:
        container.rectifications.start("default", JANE, {**good, **values})
    assert issue in info.value.message
    assert all(v is None or v not in info.value.message for v in values.values() if v != "x")  # no value quoted
    assert rows(source_url, "SELECT city FROM addresses ORDER BY id") == [("Lyon",), ("Paris",), ("Nice",)]
    assert container.requests.page("default").items == []  # no task, no case


def test_a_value_that_no_longer_fits_when_the_job_runs_fails_the_task_and_changes_nothing(
    container: Container, source_url: str
) -> None:
    task_id = container.tasks.start_rectification(
        "default", JANE, {"shop.addresses.city": "Metz", "shop.customers.points": "12.5"}, None
    )
    outcome = run(container, task_id)
    assert outcome["status"] == "FAILED" and outcome["errors"][0]["code"] == "INVALID_VALUE"
    assert rows(source_url, "SELECT city FROM addresses ORDER BY id") == [("Lyon",), ("Paris",), ("Nice",)]
    case = case_of(container, task_id)
    assert case.status == "in_progress" and "rectified" not in [e.kind for e in case.timeline]


def test_an_unknown_subject_is_answered_as_no_data_held(container: Container) -> None:
    task_id = container.rectifications.start("default", "nobody@example.com", {"shop.addresses.city": "Metz"})
    assert run(container, task_id)["errors"][0]["code"] == "DATA_SUBJECT_NOT_FOUND"
    case = case_of(container, task_id)
    assert (case.status, case.decision_basis) == ("denied", "no_data_held")


def test_the_subjects_deletion_erases_the_values_the_record_kept(container: Container) -> None:
    task_id = container.rectifications.start("default", JANE, {"shop.customers.name": "Jane Smith"})
    assert run(container, task_id)["status"] == "COMPLETED"
    deletion = container.tasks.start_deletion("default", JANE, 0, None, None)
    assert run(container, deletion)["status"] == "COMPLETED"
    (line,) = [e for e in case_of(container, task_id).timeline if e.kind == "rectified"]
    assert line.data is not None
    assert line.data["changes"] == [{"collection": "shop.customers", "field": "name", "erased": True}]
    with container.db.engine.connect() as conn:
        kept = " ".join(str(r) for r in conn.execute(sa.text("SELECT summary FROM privacy_tasks")))
        record = " ".join(str(r) for r in conn.execute(sa.text("SELECT data FROM privacy_request_events")))
    assert "Jane" not in kept and "Jane" not in record


def test_a_run_cut_short_changes_only_the_sources_left(tmp_path: Path) -> None:
    from dsar.connectors.base import Connector
    from dsar.connectors.memory import MemoryConnector, MemoryTable
    from dsar.datamap.model import DataMap
    from dsar.engine.execute import EngineOptions, Sources
    from dsar.engine.plan import build_plan
    from dsar.engine.rectify import apply, check

    dm = DataMap.model_validate(
        {
            "sources": {"crm": {"url": "memory://crm"}, "shop": {"url": "memory://shop"}},
            "collections": {
                f"{name}.people": {
                    "primary_key": ["id"],
                    "identities": {"email": {"column": "email", "match": "exact"}},
                    "fields": {"name": {"rectifiable": True}},
                    "processing": {"purpose": "p", "legal_basis": "b", "retention": "r"},
                }
                for name in ("crm", "shop")
            },
        }
    )
    made: dict[str, MemoryConnector] = {}

    def connect(name: str, url: str) -> Connector:
        rows = [{"id": 1, "email": JANE, "name": "Jane Doe"}]
        made[name] = MemoryConnector(
            name, {"people": MemoryTable(["id"], {"id": int, "email": str, "name": str}, rows)}
        )
        return made[name]

    sources = Sources(dm, connect)
    try:
        fields = check(dm, sources, {"crm.people.name": "Jane Smith", "shop.people.name": "Jane Smith"})
        # The first run committed crm, then stopped; what it kept says so.
        kept = {
            "crm": [
                {
                    "collection": "crm.people",
                    "key": {"id": 1},
                    "field": "name",
                    "before": "Jane Doe",
                    "after": "Jane Smith",
                }
            ]
        }
        made["crm"].tables["people"].rows[0]["name"] = "Jane Smith"
        told: list[str] = []
        record = apply(
            dm, build_plan(dm), sources, JANE, tmp_path, EngineOptions(), fields, kept, lambda src, _c: told.append(src)
        )
    finally:
        sources.dispose()
    assert told == ["shop"]  # crm is not changed again
    assert [(c["collection"], c["before"], c["after"]) for c in record] == [
        ("crm.people", "Jane Doe", "Jane Smith"),  # its value before survives the rerun
        ("shop.people", "Jane Doe", "Jane Smith"),
    ]
