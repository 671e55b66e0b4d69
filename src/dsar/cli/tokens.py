"""`dsar tokens user`: an end-user bearer token signed by this server (tests and integrations)."""

from __future__ import annotations

import typer

from dsar.cli.common import container
from dsar.tasks.validation import email_issues

app = typer.Typer(help="End-user tokens.", no_args_is_help=True)


@app.command("user")
def user(
    subject: str = typer.Option(..., "--subject", help="the person's e-mail"),
    scope: list[str] = typer.Option(..., "--scope", help="a portability scope id, or open-data-request-api"),
    client_id: str = typer.Option("dsar-cli", "--client-id", help="the app acting for the person"),
    ttl: int = typer.Option(3600, "--ttl", min=60, max=31 * 86400, help="lifetime in seconds"),
) -> None:
    """Print a bearer token for SUBJECT with the given scopes."""
    issues = email_issues(subject.strip(), "--subject")
    if issues:
        typer.echo(f"error: {issues[0]}", err=True)
        raise typer.Exit(2)
    with container() as c:
        typer.echo(c.endusers.issue(subject, scope, client_id, ttl))
