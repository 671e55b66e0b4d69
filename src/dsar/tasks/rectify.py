"""The rectification job: check the requested values again (the sources' columns may have changed since the
request), set them on the subject's rows, one transaction per source, and finish with what changed.

The task's summary holds the requested values until the job runs, and what each source committed as soon as it
did (a run cut short and run again changes only the sources left), then what was before and what is after (the
privacy request's timeline copies it: the record of the rectification). A value that no longer fits fails the
task with INVALID_VALUE before anything changes; no row of the subject fails it with DATA_SUBJECT_NOT_FOUND.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

from dsar import log
from dsar.engine.rectify import apply, check
from dsar.errors import InvalidInput
from dsar.tasks import repository as repo
from dsar.tasks.contract import TaskRef
from dsar.tasks.states import COMPLETED, FAILED

if TYPE_CHECKING:
    from dsar.tasks.jobs import TaskWorker

_log = log.get("dsar.jobs")


def run_rectification(w: TaskWorker, ref: TaskRef) -> None:
    with w.db.session(write=False) as s:
        task = repo.record(s, ref.id)
    summary = dict((task.summary or {}) if task else {})
    requested = dict(summary.get("requested") or {})
    done: dict[str, list[dict[str, object]]] = dict(summary.get("done") or {})  # an interrupted run's sources
    try:
        fields = check(w.datamap, w.sources, requested)
    except InvalidInput as exc:  # its message names fields and types, never a value
        w.finish(ref.id, ref.owner, FAILED, "INVALID_VALUE", exc.message)
        return

    def progress(source: str, changed: list[dict[str, object]]) -> None:
        done[source] = changed  # committed in the source: a rerun keeps these values before, not the new ones
        with w.db.session() as s:
            repo.set_summary(s, ref.id, ref.owner, {"requested": requested, "done": done})

    spool = w.spool(ref.id, ref.owner)
    try:
        changed = apply(w.datamap, w.plan, w.sources, ref.email, spool, w.engine, fields, done, progress)
    finally:
        shutil.rmtree(spool, ignore_errors=True)
    if not changed:
        w.finish(
            ref.id,
            ref.owner,
            FAILED,
            "DATA_SUBJECT_NOT_FOUND",
            f"The shopper email for request {ref.id} does not exist",
        )
        return
    if w.finish(ref.id, ref.owner, COMPLETED, None, None, summary={"rectified": changed}):
        _log.info("task_completed", task_id=ref.id, kind="rectification", values_changed=len(changed))
