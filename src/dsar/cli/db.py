"""`dsar db upgrade`."""

from __future__ import annotations

import typer

from dsar.cli.common import container, load_settings
from dsar.db.migrate import upgrade as run_upgrade

app = typer.Typer(help="dsar's own state database.", no_args_is_help=True)


@app.command("upgrade")
def upgrade() -> None:
    """Apply the migrations (run it before starting new code in a distributed deployment)."""
    with container(settings=load_settings(create=True)) as c:
        run_upgrade(c.db.engine)
        typer.echo("database is up to date")
