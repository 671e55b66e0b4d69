"""`dsar storage sweep`: delete the sealed bodies no header names (writes killed half-way; docs/encryption.md)."""

from __future__ import annotations

from datetime import timedelta

import typer

from dsar.cli.common import container

app = typer.Typer(help="The object storage: archives, uploads and their sealed bodies.", no_args_is_help=True)


@app.command("sweep")
def sweep(
    grace_hours: int | None = typer.Option(
        None,
        "--grace-hours",
        min=1,
        help="keep bodies younger than this (default DSAR_ENCRYPTION__ORPHAN_GRACE_HOURS, 24)",
    ),
) -> None:
    """Delete every body under dsar-sealed/ that no header names and that is older than the grace period.

    The periodic job `sealed-orphans` does the same in every worker; this runs it now. A body younger than the
    grace period is kept (its write may be in progress), as is one whose header cannot be read."""
    with container() as c:
        grace = None if grace_hours is None else timedelta(hours=grace_hours)
        done = c.sweep_orphans(c.clock.now(), grace)
        typer.echo(
            f"{done.deleted} orphan bodies deleted; kept {done.named} named by a header, {done.young} younger "
            f"than the grace period, {done.unknown} whose header could not be read or named the old way"
        )
