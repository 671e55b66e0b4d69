"""`dsar clients create | list | rotate | revoke`."""

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


@app.command("list")
def list_clients(as_json: bool = typer.Option(False, "--json", help="one JSON object per line")) -> None:
    """Every client, newest first: id, name, tenant, scopes, created, revoked (never a secret)."""
    with container() as c:
        upgrade(c.db.engine)
        rows = c.auth.clients()
    for r in rows:
        revoked = r.disabled_at.isoformat() if r.disabled_at else None
        doc: dict[str, object] = {"client_id": r.id, "name": r.name, "tenant": r.tenant, "scopes": r.scopes.split()}
        doc |= {"created_at": r.created_at.isoformat(), "revoked_at": revoked}
        if as_json:
            typer.echo(json.dumps(doc))
        else:
            state = f"revoked {revoked[:10]}" if revoked else "active"
            typer.echo(f"{r.id}  {r.name}  tenant={r.tenant}  scopes={r.scopes}  {state}")


@app.command("rotate")
def rotate(client_id: str = typer.Argument(..., help="the client's id")) -> None:
    """A new secret (shown once); the old one stops getting tokens at once."""
    with container() as c:
        upgrade(c.db.engine)
        secret = c.auth.rotate_secret(client_id)
        c.operators.record("cli", "client_rotated", client_id)
    typer.echo(f"client_id:     {client_id}\nclient_secret: {secret}\n(the secret is not shown again)")


@app.command("revoke")
def revoke(client_id: str = typer.Argument(..., help="the client's id")) -> None:
    """The client gets no more tokens; the ones it holds expire within DSAR_TOKEN_TTL_SECONDS."""
    with container() as c:
        upgrade(c.db.engine)
        c.auth.revoke_client(client_id)
        c.operators.record("cli", "client_revoked", client_id)
    typer.echo(f"Revoked {client_id}: it gets no more tokens.")
