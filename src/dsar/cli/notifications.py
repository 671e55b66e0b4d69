"""`dsar notifications list|show|redeliver`: the outbox and its delivery log."""

from __future__ import annotations

import typer

from dsar.cli.common import container
from dsar.kit.clock import iso_z

app = typer.Typer(help="Outbound notifications: outbox, delivery log, redelivery.", no_args_is_help=True)


@app.command("list")
def list_(app_id: str | None = typer.Option(None, "--app", help="only this app's messages")) -> None:
    """Every message: id, app, type, status, attempts, next attempt."""
    with container() as c:
        for m in c.notifications.messages(app_id):
            typer.echo(f"{m.id}  {m.app_id}  {m.type:24} {m.status:9} {m.attempts:3}  {iso_z(m.next_attempt_at)}")


@app.command("show")
def show(message_id: str = typer.Argument(..., help="the MessageId")) -> None:
    """A message's status and its delivery log."""
    with container() as c:
        status, attempts = c.notifications.status(message_id)
        typer.echo(f"status: {status}  attempts: {attempts}")
        for d in c.notifications.deliveries(message_id):
            typer.echo(f"{iso_z(d.attempted_at)}  {d.status_code or '-'}  {d.error or ''}")


@app.command("redeliver")
def redeliver(message_id: str = typer.Argument(..., help="the MessageId")) -> None:
    """Send a message again now (the same MessageId: receivers de-duplicate on it)."""
    with container() as c:
        c.notifications.redeliver(message_id)
    typer.echo(f"queued {message_id}")
