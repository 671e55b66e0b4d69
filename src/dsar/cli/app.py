"""The `dsar` command line: one Typer app, a module per command group."""

from __future__ import annotations

import typer

from dsar.cli import (
    apps,
    archive,
    clients,
    datamap,
    db,
    notifications,
    report,
    requests,
    serve,
    tasks,
    tokens,
    webhooks,
)

app = typer.Typer(
    help="dsar: answers personal-data access and deletion requests.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("serve")(serve.serve)
app.command("worker")(serve.worker)
app.command("demo")(serve.demo)
app.add_typer(db.app, name="db")
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


def main() -> None:
    app()
