"""`dsar clients create`."""

from __future__ import annotations

import json

import typer

from dsar.cli.common import container
from dsar.db.migrate import upgrade

app = typer.Typer(help="API clients of the company's back office.", no_args_is_help=True)


@app.command("create")
def create(
    name: str = typer.Option(..., "--name", help="what this client is for"),
    scope: list[str] = typer.Option(..., "--scope", help="privacy:manage and/or files:manage"),
    tenant: str = typer.Option("default", "--tenant", help="tasks are visible only within a tenant"),
    as_json: bool = typer.Option(False, "--json", help='print {"client_id", "client_secret"} only'),
) -> None:
    """Create a client; its secret is shown once and stored only as a hash."""
    with container() as c:
        upgrade(c.db.engine)
        client_id, secret = c.auth.create_client(name, scope, tenant)
        c.operators.record("cli", "client_created", client_id, {"scopes": sorted(scope)})  # as the console does
    if as_json:
        typer.echo(json.dumps({"client_id": client_id, "client_secret": secret}))
    else:
        typer.echo(f"client_id:     {client_id}\nclient_secret: {secret}\n(the secret is not shown again)")
