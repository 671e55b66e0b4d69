"""The data-query job: read the scope's collections (within the history window), write each as JSON data
files of at most `rows_per_part` rows beside its JSON Schema, finish the task and queue the notification
in one transaction.

A query ends CANCELED (task FAILED) when it cannot finish: its scope was removed from the data map, the
subject's data was deleted after the query started, the customer revoked the app's authorization, a data
source still failed after retries, or the job crashed on its last allowed attempt.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.orm import Session

from dsar import log
from dsar.datamap.portability import PortabilityScope, ScopeCollection
from dsar.engine import spool as sealed_spool
from dsar.engine.execute import Selection
from dsar.engine.results import CollectionResult
from dsar.errors import SourceError
from dsar.notifications.service import Notifications
from dsar.portability import repository as repo
from dsar.portability.models import CANCELED, COMPLETED, DataQuery
from dsar.tasks import repository as tasks_repo
from dsar.tasks.contract import TaskJob
from dsar.tasks.states import COMPLETED as TASK_COMPLETED
from dsar.tasks.states import FAILED

_log = log.get("dsar.portability")
SUBJECT = "Data Portability Notification 1.0"


def schema_doc(r: CollectionResult, scope_id: str) -> bytes:
    properties: dict[str, Any] = {}
    for c in r.columns:
        prop = dict(c.schema)
        prop["description"] = c.description or prop.get("description", "")
        properties[c.name] = prop
    return orjson.dumps(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"{scope_id}/{r.source}/{r.name}",
            "title": f"{r.source} / {r.name}",
            "description": r.description or f"Rows of {r.key}.",
            "type": "array",
            "items": {
                "type": "object",
                "properties": properties,
                "required": [c.name for c in r.columns],
                "additionalProperties": False,
            },
        },
        option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS,
    )


def _rows(spool: Path, spec: ScopeCollection) -> Iterator[bytes]:
    """The spool's lines (JSON objects), without those the scope's `where` filters out."""
    with sealed_spool.open_spool(spool) as f:
        for line in f:
            if not line.strip():
                continue
            if spec.where:
                row = orjson.loads(line)
                if any(row.get(col) not in values for col, values in spec.where.items()):
                    continue
            yield line.rstrip(b"\n")


def _part(first: bytes, rows: Iterator[bytes], size: int) -> Iterator[bytes]:
    yield b"[\n" + first
    for _ in range(size - 1):
        line = next(rows, None)
        if line is None:
            break
        yield b",\n" + line
    yield b"\n]\n"


class DataQueryJob:
    def __init__(self, *, notifications: Notifications, scopes: Callable[[], dict[str, PortabilityScope]], rows: int):
        self.notifications, self.scopes, self.rows_per_part = notifications, scopes, rows

    def __call__(self, job: TaskJob) -> None:
        ref = job.ref
        try:
            self.run(job)
        except SourceError as exc:
            _log.warning("data_query_canceled", task_id=ref.id, reason="source", source=exc.source)
            self.cancel(job, "SOURCE_UNAVAILABLE", exc.message)
        except Exception:
            if ref.attempts >= job.max_attempts:
                self.cancel(job, "INTERNAL_ERROR", f"The data query {ref.id} could not be completed.")
                return
            raise

    def run(self, job: TaskJob) -> None:
        ref = job.ref
        with job.session(write=False) as s:
            q = s.get(DataQuery, ref.id)
            if q is None:
                return
            scope_id, since, created = q.scope_id, q.since, q.created_at
            deleted = tasks_repo.deletion_completed_since(s, q.subject_ref, created)
            revoked = _revoked(s, q)
        scope = self.scopes().get(scope_id)
        if scope is None:
            self.cancel(job, "SCOPE_REMOVED", f"The scope {scope_id} no longer exists.")
            return
        if deleted:
            self.cancel(job, "SUBJECT_DELETED", "The customer's data was deleted.")
            return
        if revoked:
            self.cancel(job, *REVOKED)
            return
        selection = Selection(
            frozenset(scope.collections),
            {k: (c.timestamp, since) for k, c in scope.collections.items() if c.timestamp and since is not None},
        )
        spool = job.spool()
        try:
            results, _ = job.retrieve(spool, selection)
            records, counts = self._write(job, ref.id, scope_id, scope, results)
        finally:
            shutil.rmtree(spool, ignore_errors=True)
        self.finish(job, COMPLETED, records=records, summary={"records": sum(counts.values()), **counts})

    def _write(
        self, job: TaskJob, task_id: str, scope_id: str, scope: PortabilityScope, results: list[CollectionResult]
    ) -> tuple[list[dict[str, str]], dict[str, int]]:
        records: list[dict[str, str]] = []
        counts: dict[str, int] = {}
        for r in sorted(results, key=lambda r: r.key):
            spec = scope.collections.get(r.key)
            if spec is None or r.spool is None or not r.spool.exists():
                continue
            base = f"portability/{task_id}/{r.source}.{r.name}"
            rows = _rows(r.spool, spec)
            first = next(rows, None)
            if first is None:
                continue
            schema_key = f"{base}.schema.json"
            job.store(schema_key, iter([schema_doc(r, scope_id)]), "application/json")
            part = 0
            while first is not None:
                part += 1
                key = f"{base}.part{part:04d}.json"
                job.store(key, _part(first, rows, self.rows_per_part), "application/json", fresh=True)
                records.append({"schema": schema_key, "file": key})
                first = next(rows, None)
            counts[r.key] = part
        return records, counts

    def cancel(self, job: TaskJob, code: str, message: str) -> None:
        self.finish(job, CANCELED, errors=[{"code": code, "message": message}])

    def finish(
        self,
        job: TaskJob,
        outcome: str,
        *,
        records: list[dict[str, str]] | None = None,
        errors: list[dict[str, str]] | None = None,
        summary: dict[str, Any] | None = None,
    ) -> None:
        """Finish the task, record the outcome and queue the notification: one transaction. A revocation
        committed while the files were written turns COMPLETED into CANCELED (and the files are removed)."""
        ref = job.ref
        discard: list[dict[str, str]] = []
        with job.session() as s:
            q = s.get(DataQuery, ref.id)
            if q is not None and outcome == COMPLETED and _revoked(s, q):
                outcome, discard, records, summary = CANCELED, records or [], [], None
                errors = [{"code": REVOKED[0], "message": REVOKED[1]}]
            status = TASK_COMPLETED if outcome == COMPLETED else FAILED
            if not job.finish_in(s, status, errors or [], summary=summary):
                return
            if q is None:
                return
            q.outcome, q.records, q.active_key = outcome, records or [], None
            self.notifications.publish(s, q.app_id, SUBJECT, {"id": ref.id, "version": "1.0", "status": outcome})
        for key in sorted({k for r in discard for k in r.values()}):
            job.discard(key)
        _log.info("data_query_finished", task_id=ref.id, outcome=outcome)


REVOKED = ("AUTHORIZATION_REVOKED", "The customer revoked the application's authorization.")


def _revoked(s: Session, q: DataQuery) -> bool:
    """Was the authorization the query was made under revoked (at or after its creation)?"""
    at = repo.revoked_at(s, q.app_id, q.subject_ref)
    return at is not None and at >= q.created_at
