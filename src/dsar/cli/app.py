"""The `dsar` command line: one Typer app, a module per command group."""

from __future__ import annotations

import sys

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError

from dsar.cli import (
    apps,
    archive,
    clients,
    common,
    datamap,
    db,
    keys,
    notifications,
    operators,
    report,
    requests,
    serve,
    steps,
    storage,
    tasks,
    tokens,
    webhooks,
)
from dsar.cli.common import debugging, settings_problem

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: Typer's rich panels label every flag `<bool>`
)


@app.callback()
def main_options(
    debug: bool = typer.Option(False, "--debug", help="print the traceback of an error, not just its one line"),
) -> None:
    """dsar: answers personal-data access and deletion requests.

    Settings come from DSAR_* variables (docs/settings.md); without DSAR_DATA_DIR or DSAR_DATABASE_URL the
    commands use ./dsar-data, or the state `dsar demo` left in ./dsar-demo.
    """
    common.set_debug(debug)


app.command("serve")(serve.serve)
app.command("worker")(serve.worker)
app.command("demo")(serve.demo)
app.add_typer(db.app, name="db")
app.add_typer(operators.app, name="operators")
app.add_typer(clients.app, name="clients")
app.add_typer(datamap.app, name="datamap")
app.add_typer(tasks.app, name="tasks")
app.add_typer(tokens.app, name="tokens")
app.add_typer(apps.app, name="apps")
app.add_typer(notifications.app, name="notifications")
app.add_typer(webhooks.app, name="webhooks")
app.add_typer(requests.app, name="requests")
app.add_typer(report.app, name="report")
app.add_typer(archive.app, name="archive")
app.add_typer(keys.app, name="keys")
app.add_typer(storage.app, name="storage")
app.add_typer(steps.app, name="steps")


def main() -> None:
    try:
        app()
    except (ValidationError, SettingsError) as exc:  # settings read outside load_settings (serve, demo)
        if debugging():
            raise
        typer.echo(f"error: {settings_problem(exc)}", err=True)
        sys.exit(1)
