"""`dsar webhooks create`: privacy events of the GraphQL face, signed with Standard Webhooks."""

from __future__ import annotations

import json

import typer

from dsar.cli.common import container
from dsar.db.migrate import upgrade
from dsar.notifications.webhooks import EVENTS

app = typer.Typer(help="Webhook subscriptions for privacy events.", no_args_is_help=True)


@app.command("create")
def create(
    url: str = typer.Option(..., "--url", help="https endpoint receiving the events"),
    event: list[str] = typer.Option(..., "--event", help=" | ".join(EVENTS)),
    tenant: str = typer.Option("default", "--tenant", help="events of this tenant's tasks"),
    as_json: bool = typer.Option(False, "--json", help='print {"id", "url", "events", "secret"} only'),
) -> None:
    """Subscribe URL to events; the signing secret (whsec_...) is shown once."""
    with container() as c:
        upgrade(c.db.engine)
        view = c.webhooks.create(url, event, tenant)
    doc = {"id": view.id, "url": view.url, "events": view.events, "secret": view.secret}
    typer.echo(json.dumps(doc) if as_json else "\n".join(f"{k + ':':8} {v}" for k, v in doc.items()))
