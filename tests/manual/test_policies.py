"""A manual step under a frozen clock: the task waits without a worker, reminders go out every N days, and at the
deadline the policy blocks the task or completes it without the source; an operator's answer (the CLI's path)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from dsar.bootstrap import Container
from dsar.db.migrate import upgrade
from dsar.errors import InvalidInput
from dsar.kit.clock import FrozenClock
from dsar.manual.files import Upload
from dsar.tasks import repository as repo
from dsar.tasks.states import COMPLETED, DELETION, FAILED, IN_PROGRESS, RETRIEVAL
from tests.api.harness import settings_for
from tests.manual.helpers import JANE, archive_of, manual_datamap, sources_doc


@pytest.fixture
def make(tmp_path: Path, demo_dir: Path) -> Iterator[Any]:
    made: list[Container] = []

    def build(database_url: str | None = None, **manual: Any) -> tuple[Container, FrozenClock]:
        clock = FrozenClock()
        dm = manual_datamap(demo_dir, **manual)
        extra = {"database_url": database_url} if database_url else {}
        settings = settings_for(tmp_path / str(len(made)), demo_dir, datamap=dm, **extra)
        c = Container(settings, clock=clock, with_workers=False)
        upgrade(c.db.engine)
        made.append(c)
        return c, clock

    yield build
    for c in made:
        c.close()


def _run(c: Container, worker: str = "w1") -> str | None:
    tid = c.worker.claim(worker)
    if tid is not None:
        c.worker.run(tid, worker)
    return tid


def test_the_task_waits_without_a_worker_and_reminders_go_out(make: Any) -> None:
    c, clock = make(remind_every_days=3, deadline_days=14)
    tid = c.tasks.start_retrieval("t1", JANE, None)
    assert _run(c) == tid
    assert c.tasks.get("t1", tid, RETRIEVAL).status == IN_PROGRESS
    [step] = c.manual_steps.list(task_id=tid)
    assert (step.source, step.status, step.subject) == ("crm", "pending", {"email": JANE})
    assert c.worker.claim("w2") is None  # given back until the next look: no worker holds it meanwhile
    assert c.manual_steps.remind_due(clock.now()) == 0
    clock.advance(timedelta(days=3, seconds=1))
    assert c.manual_steps.remind_due(clock.now()) == 1
    assert c.manual_steps.remind_due(clock.now()) == 0  # once per interval
    assert _run(c) == tid  # due again: still waiting
    assert c.tasks.get("t1", tid, RETRIEVAL).status == IN_PROGRESS
    assert c.manual_steps.show(step.id).reminders == 1


def test_block_fails_the_task_at_the_deadline(make: Any) -> None:
    c, clock = make(deadline_days=5, on_timeout="block")
    tid = c.tasks.start_retrieval("t1", JANE, None)
    _run(c)
    clock.advance(timedelta(days=5, seconds=1))
    assert _run(c) == tid
    task = c.tasks.get("t1", tid, RETRIEVAL)
    assert task.status == FAILED
    assert task.errors[0]["code"] == "MANUAL_STEP_OVERDUE"
    assert "'crm'" in task.errors[0]["message"]
    [step] = c.manual_steps.list(task_id=tid)
    assert (step.status, step.answered_by) == ("overdue", "policy")


def test_complete_without_completes_and_the_archive_says_so(make: Any) -> None:
    c, clock = make(deadline_days=5, on_timeout="complete_without")
    tid = c.tasks.start_retrieval("t1", JANE, None)
    _run(c)
    clock.advance(timedelta(days=5, seconds=1))
    _run(c)
    assert c.tasks.get("t1", tid, RETRIEVAL).status == COMPLETED
    with archive_of(c, tid) as z:
        crm = sources_doc(z)["crm"]
        assert not [n for n in z.namelist() if n.startswith("data/crm/")]
    assert (crm["manual"], crm["status"]) == ("completed_without", "skipped")
    assert "5 days" in crm["detail"]
    assert sources_doc(archive_of(c, tid))["shop"]["status"] == "found"  # the rest of the walk is there


def test_an_operator_answers_with_a_file(make: Any) -> None:
    c, _clock = make()
    tid = c.tasks.start_retrieval("t1", JANE, None)
    _run(c)
    [step] = c.manual_steps.list(task_id=tid)
    rows = b"contact_id,email,owner\n17,jane.doe@example.com,Sales EMEA\n"
    view = c.manual_steps.answer(step.id, "answered", [Upload("contacts.csv", rows)], by="cli")
    assert view.status == "answered" and view.files[0]["rows"] == 1
    assert _run(c) == tid  # the answer made the task due at once (no wait for its next look)
    assert c.tasks.get("t1", tid, RETRIEVAL).status == COMPLETED
    with archive_of(c, tid) as z:
        assert z.read("data/crm/contacts.csv") == rows
        crm = sources_doc(z)["crm"]
        manifest = z.read("manifest.json")
    assert (crm["manual"], crm["status"], crm["records"]) == ("answered", "found", 1)
    assert b"data/crm/contacts.csv" in manifest  # listed and digested like every member


def test_a_deletion_waits_for_the_attestation(make: Any) -> None:
    """A subject only the manual source knows: the attested erasure is what the deletion did."""
    c, _clock = make()
    tid = c.tasks.start_deletion("t1", "only.in.crm@example.com", 0, None, None)
    _run(c)
    [step] = c.manual_steps.list(task_id=tid)
    assert step.action == "deletion"
    with pytest.raises(InvalidInput, match="erased or no_data"):
        c.manual_steps.answer(step.id, "answered", [Upload("x.csv", b"a\n1\n")], by="cli")
    c.manual_steps.answer(step.id, "erased", [], by="cli")
    assert _run(c) == tid
    task = c.tasks.get("t1", tid, DELETION)
    assert task.status == COMPLETED, task.errors
    with c.db.session(write=False) as s:
        record = repo.record(s, tid)
    assert record is not None and record.summary is not None
    assert record.summary["erased"]["crm.manual"]["reason"] == "erased"


@pytest.mark.parametrize("state", ["postgres", "mariadb"])
def test_steps_on_a_server_state_database(make: Any, state: str, request: pytest.FixtureRequest) -> None:
    """The revision, the sealed subject, the row lock of an answer and the wake-up on PostgreSQL and MariaDB."""
    url = request.getfixturevalue("pg_url" if state == "postgres" else "mysql_url")
    c, clock = make(database_url=url, deadline_days=5)
    answered = c.tasks.start_retrieval("t1", JANE, None)
    _run(c)
    [step] = c.manual_steps.list(task_id=answered)
    assert step.subject == {"email": JANE}
    c.manual_steps.answer(step.id, "no_data", [], by="cli")
    assert _run(c) == answered
    assert c.tasks.get("t1", answered, RETRIEVAL).status == COMPLETED
    with archive_of(c, answered) as z:
        assert sources_doc(z)["crm"]["manual"] == "no_data"
    late = c.tasks.start_retrieval("t1", "john.roe@example.com", None)
    _run(c)
    clock.advance(timedelta(days=5, seconds=1))
    assert _run(c) == late
    assert c.tasks.get("t1", late, RETRIEVAL).errors[0]["code"] == "MANUAL_STEP_OVERDUE"


def test_uploads_and_the_subject_are_purged_after_the_retention(make: Any) -> None:
    c, clock = make()
    tid = c.tasks.start_retrieval("t1", JANE, None)
    _run(c)
    [step] = c.manual_steps.list(task_id=tid)
    c.manual_steps.answer(step.id, "answered", [Upload("contacts.csv", b"a\n1\n")], by="cli")
    _run(c)
    key = f"manual-steps/{step.id}/contacts.csv"
    assert c.storage.exists(key)
    clock.advance(timedelta(days=29))
    assert c.manual_steps.purge_expired(clock.now()) == 0
    clock.advance(timedelta(days=1, seconds=1))
    assert c.manual_steps.purge_expired(clock.now()) == 1
    assert not c.storage.exists(key)
    kept = c.manual_steps.show(step.id)
    assert kept.subject == {} and kept.status == "answered"
    assert kept.files[0]["name"] == "contacts.csv" and "key" not in kept.files[0]
    assert c.manual_steps.purge_expired(clock.now()) == 0  # once
