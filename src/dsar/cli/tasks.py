"""`dsar tasks preview-deletion`: what a deletion would change, changing nothing."""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer

from dsar.cli.common import container
from dsar.engine.erase import locate, preview
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
