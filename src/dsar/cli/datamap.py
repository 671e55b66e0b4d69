"""`dsar datamap check [FILE]`."""

from __future__ import annotations

from pathlib import Path

import typer

from dsar.cli import discovery
from dsar.cli.common import load_settings
from dsar.cli.progress import ProgressLine
from dsar.connectors.registry import connect
from dsar.datamap.loader import load
from dsar.engine.check import check as run_check
from dsar.engine.sources import Sources
from dsar.errors import DataMapError

app = typer.Typer(help="The data map.", no_args_is_help=True)


@app.command("check")
def check(file: Path | None = typer.Argument(None, help="the data map; DSAR_DATAMAP when omitted")) -> None:
    """Validate the data map, connect to every source, print the plan and its SQL; exit 1 on errors."""
    path = file or load_settings(state=False).datamap
    if path is None:
        typer.echo("error: give the data map file, or set DSAR_DATAMAP", err=True)
        raise typer.Exit(1)
    try:
        dm = load(path)
    except DataMapError as exc:
        typer.echo(exc.message, err=True)
        raise typer.Exit(1) from None
    sources = Sources(dm, connect)
    progress = ProgressLine("checking")  # on stderr, only when it is a terminal
    try:
        report = run_check(dm, sources, progress)
    finally:
        progress.close()
        sources.dispose()
    for line in report.lines:
        typer.echo(line)
    report.warnings[:0] = dm.load_warnings
    for w in report.warnings:
        typer.echo(f"warning: {w}")
    for e in report.errors:
        typer.echo(f"error: {e}", err=True)
    typer.echo(f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)")
    if not report.ok:
        raise typer.Exit(1)


discovery.register(app)  # discover, coverage, import-fides, export-fides
