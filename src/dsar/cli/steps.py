"""`dsar steps list|show|answer`: the steps of manual sources (docs/manual-sources.md), for operators without the
console. `answer` closes a step as its respondent would: files (CSV or JSON), `--no-data` or `--erased`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from dsar.cli.common import container, fail
from dsar.kit.clock import iso_z
from dsar.manual.files import Upload
from dsar.manual.service import StepView

app = typer.Typer(help="Steps of manual sources: a person searches a system with no API.", no_args_is_help=True)


def _doc(v: StepView, *, subject: bool) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "stepId": v.id,
        "taskId": v.task_id,
        "source": v.source,
        "action": v.action,
        "status": v.status,
        "created": iso_z(v.created_at),
        "deadline": iso_z(v.deadline_at),
        "reminders": v.reminders,
        "answered": iso_z(v.answered_at) if v.answered_at else None,
        "answeredBy": v.answered_by,
        "files": [{k: f[k] for k in ("name", "size", "rows", "sha256") if k in f} for f in v.files],
    }
    if subject:
        doc["searchFor"] = v.subject
        doc["instructions"] = v.instructions
    return doc


@app.command("list")
def list_steps(
    status: str = typer.Option("", "--status", help="only steps in this status, e.g. pending"),
    task: str = typer.Option("", "--task", help="only the steps of this task"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """The latest steps (newest first): id, task, source, action, status, deadline."""
    with container() as c:
        steps = c.manual_steps.list(status or None, task or None)
    if as_json:
        typer.echo(json.dumps([_doc(v, subject=False) for v in steps], indent=2))
        return
    if not steps:
        typer.echo("No steps.")
        return
    for v in steps:
        typer.echo(f"{v.id}  {v.task_id}  {v.source}  {v.action}  {v.status}  deadline {iso_z(v.deadline_at)[:10]}")


@app.command("show")
def show(step_id: str = typer.Argument(..., help="the step's id (from `dsar steps list`)")) -> None:
    """One step, with whom to search for (the subject's identities) and the instructions."""
    with container() as c:
        view = c.manual_steps.show(step_id.strip())
    typer.echo(json.dumps(_doc(view, subject=True), indent=2, ensure_ascii=False))


@app.command("answer")
def answer(
    step_id: str = typer.Argument(..., help="the step's id"),
    files: list[Path] = typer.Option([], "--file", help="a CSV or JSON file of what was found (repeatable)"),
    no_data: bool = typer.Option(False, "--no-data", help="attest that the system holds no data about the subject"),
    erased: bool = typer.Option(False, "--erased", help="attest that the subject's data was erased (deletions)"),
) -> None:
    """Close a step: with the files found, or attesting no data, or (a deletion) that the data was erased."""
    chosen = [name for name, on in (("--file", bool(files)), ("--no-data", no_data), ("--erased", erased)) if on]
    if len(chosen) != 1:
        fail("give one of --file (repeatable), --no-data or --erased", 2)
    uploads = []
    for path in files:
        try:
            uploads.append(Upload(path.name, path.read_bytes()))
        except OSError as exc:
            fail(f"cannot read {path.name}: {exc.strerror or type(exc).__name__}", 2)
    outcome = "answered" if files else "no_data" if no_data else "erased"
    with container() as c:
        view = c.manual_steps.answer(step_id.strip(), outcome, uploads, by="cli")
    typer.echo(f"step {view.id}: {view.status}" + (f" ({len(view.files)} file(s))" if view.files else ""))
