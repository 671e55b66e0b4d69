"""`dsar apps create`: third-party apps of the Data Portability API."""

from __future__ import annotations

import json

import typer

from dsar.cli.common import container
from dsar.db.migrate import upgrade

app = typer.Typer(help="Third-party apps of the Data Portability API.", no_args_is_help=True)


@app.command("create")
def create(
    name: str = typer.Option(..., "--name", help="the app's name"),
    notify_url: str = typer.Option(..., "--notify-url", help="https endpoint for SNS-style notifications"),
    rate_limit: int | None = typer.Option(
        None, "--rate-limit", min=1, help="requests per rate window (default: DSAR_PORTABILITY__RATE_LIMIT)"
    ),
    daily_quota: int | None = typer.Option(
        None, "--daily-quota", min=1, help="data queries per scope and UTC day (default: DSAR_PORTABILITY__DAILY_QUOTA)"
    ),
    as_json: bool = typer.Option(False, "--json", help='print {"app_id", "name", "notify_url", "topic_arn"} only'),
) -> None:
    """Register an app; its id is the `client_id` of its users' tokens. A SubscriptionConfirmation is sent."""
    with container() as c:
        upgrade(c.db.engine)
        view = c.portability.create_app(name, notify_url, rate_limit, daily_quota)
        c.operators.record("cli", "app_created", view.app_id)  # as the console does
    doc = {"app_id": view.app_id, "name": view.name, "notify_url": view.notify_url, "topic_arn": view.topic_arn}
    if as_json:
        typer.echo(json.dumps(doc))
    else:
        typer.echo("\n".join(f"{k + ':':12} {v}" for k, v in doc.items()))


@app.command("revoke")
def revoke(
    app_id: str = typer.Argument(..., help="the app's id"),
    user: str | None = typer.Option(None, "--user", help="the customer's e-mail; without it, every customer"),
) -> None:
    """Revoke the app's authorization: tokens issued until now are refused, queries in progress end CANCELED."""
    with container() as c:
        upgrade(c.db.engine)
        active = c.portability.revoke(app_id, user)
        # as the console does: the record names the app, never the customer
        c.operators.record("cli", "app_revoked", app_id, {"canceled": active, "every_customer": user is None})
    who = "this customer" if user else "every customer"
    typer.echo(
        f"Revoked the authorization of {who}; {active} data quer{'y' if active == 1 else 'ies'} will end CANCELED."
    )
