"""`dsar tasks list|show|preview-deletion`: the operator's and auditor's view of privacy tasks.

`show` prints one task with what it did: for a retrieval the records per collection and the stored
archive (size, sha256); for a deletion the erasure record, collection by collection (delete, mask or
keep, rows, fields, reason). E-mails are masked (`j***@example.com`); nothing else personal is printed.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import typer

from dsar.cli.common import container
from dsar.engine.archive import mask_email
from dsar.engine.erase import locate, preview
from dsar.kit.clock import iso_z
from dsar.kit.ids import is_uuid
from dsar.tasks import repository as tasks_repo
from dsar.tasks.records import TaskRecord
from dsar.tasks.validation import email_issues

app = typer.Typer(help="Privacy tasks.", no_args_is_help=True)


@app.command("preview-deletion")
def preview_deletion(email: str = typer.Option(..., "--email", help="the data subject's e-mail")) -> None:
    """Print the collections, row counts and statements a deletion would run; nothing is changed."""
    issues = email_issues(email.strip(), "--email")
    if issues:
        typer.echo(f"error: {issues[0]}", err=True)
        raise typer.Exit(2)
    with container() as c, tempfile.TemporaryDirectory(prefix="dsar-preview-") as tmp:
        w = c.worker
        ep = locate(c.datamap, c.plan, c.sources, email.strip(), Path(tmp), w.engine, w.erase_key)
        if ep.found == 0:
            typer.echo("The subject was not found in any source: a deletion would end FAILED (DATA_SUBJECT_NOT_FOUND).")
            return
        for line in preview(ep, c.sources, w.engine.chunk_size):
            typer.echo(line)
        verdict = "BLOCKED: a deletion now would end FAILED" if ep.blocks else "a deletion now would run these"
        typer.echo(f"{ep.found} row(s) found; {verdict}. Nothing was changed.")


def _doc(t: TaskRecord) -> dict[str, Any]:
    def when(v: Any) -> str | None:
        return iso_z(v) if v is not None else None

    doc: dict[str, Any] = {
        "taskId": t.id,
        "kind": t.kind,
        "channel": t.channel,
        "tenant": t.tenant,
        "status": t.status,
        "subject": mask_email(t.subject_email),
        "submitted": when(t.submitted_at),
        "updated": when(t.updated_at),
        "finished": when(t.finished_at),
        "attempts": t.attempts,
        "errors": t.errors or [],
    }
    if t.batch_id:
        doc["batchId"] = t.batch_id
    if t.holding_period_days is not None:
        doc["holdingPeriodDays"] = t.holding_period_days
    if t.result_key:
        doc["archive"] = {"key": t.result_key, "size": t.result_size, "sha256": t.result_sha256}
    summary = dict(t.summary or {})
    if "erased" in summary:
        doc["erasure"] = summary.pop("erased")
    if summary:
        doc["summary"] = summary
    return doc


@app.command("list")
def list_tasks(
    status: str | None = typer.Option(None, "--status", help="IN_PROGRESS, ON_HOLD, COMPLETED or FAILED"),
    kind: str | None = typer.Option(None, "--kind", help="retrieval or deletion"),
    tenant: str | None = typer.Option(None, "--tenant"),
    limit: int = typer.Option(50, "--limit", min=1, max=10_000),
) -> None:
    """The latest tasks, newest first: id, kind, channel, status, submitted, masked subject."""
    with container() as c, c.db.session(write=False) as s:
        found = tasks_repo.latest_records(
            s, limit, status=status.upper() if status else None, kind=kind.lower() if kind else None, tenant=tenant
        )
        for t in found:
            typer.echo(
                f"{t.id}  {t.kind:9} {t.channel:4} {t.status:11} {iso_z(t.submitted_at)}  {mask_email(t.subject_email)}"
            )


@app.command("show")
def show(
    task_id: str = typer.Argument(..., help="the task id"),
    as_json: bool = typer.Option(False, "--json", help="print the record as JSON"),
) -> None:
    """One task and what it did: records per collection and the archive, or the erasure record."""
    with container() as c, c.db.session(write=False) as s:
        t = tasks_repo.record(s, task_id) if is_uuid(task_id) else None
        if t is None:
            typer.echo(f"error: no task {task_id}", err=True)
            raise typer.Exit(1)
        doc = _doc(t)
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
        return
    for key, value in doc.items():
        if key == "erasure":
            typer.echo("erasure:")
            for coll, rec in sorted(value.items()):
                fields = f" fields={','.join(rec.get('fields') or [])}" if rec.get("fields") else ""
                reason = f" ({rec['reason']})" if rec.get("reason") else ""
                typer.echo(f"  {coll}: {rec.get('action')} rows={rec.get('rows')}{fields}{reason}")
        elif isinstance(value, dict | list):
            typer.echo(f"{key}: {json.dumps(value)}")
        else:
            typer.echo(f"{key}: {value}")
