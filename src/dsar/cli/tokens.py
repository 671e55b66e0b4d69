"""`dsar tokens user`: an end-user bearer token signed by this server (tests and integrations)."""

from __future__ import annotations

from datetime import date

import typer

from dsar.cli.common import container
from dsar.tasks.validation import email_issues

GRANTS = ("once", "30d", "90d", "180d", "365d")

app = typer.Typer(help="End-user tokens.", no_args_is_help=True)


@app.command("user")
def user(
    subject: str = typer.Option(..., "--subject", help="the person's e-mail"),
    scope: list[str] = typer.Option(..., "--scope", help="a portability scope id, or open-data-request-api"),
    client_id: str = typer.Option("dsar-cli", "--client-id", help="the app acting for the person"),
    ttl: int = typer.Option(3600, "--ttl", min=60, max=31 * 86400, help="lifetime in seconds"),
    history_days: int | None = typer.Option(None, "--history-days", min=1, help="transfer the last N days only"),
    since: str | None = typer.Option(None, "--since", help="transfer data since this date (YYYY-MM-DD)"),
    grant: str | None = typer.Option(None, "--grant", help="once, 30d, 90d, 180d or 365d"),
) -> None:
    """Print a bearer token for SUBJECT with the given scopes and transfer preferences."""
    issues = email_issues(subject.strip(), "--subject")
    if history_days is not None and since is not None:
        issues.append("give --history-days or --since, not both")
    if since is not None:
        try:
            date.fromisoformat(since)
        except ValueError:
            issues.append("--since must be a date, YYYY-MM-DD")
    if grant is not None and grant not in GRANTS:
        issues.append(f"--grant must be one of {', '.join(GRANTS)}")
    if issues:
        typer.echo(f"error: {issues[0]}", err=True)
        raise typer.Exit(2)
    transfer: dict[str, object] = {}
    if history_days is not None:
        transfer["history_days"] = history_days
    if since is not None:
        transfer["history_since"] = since
    if grant is not None:
        transfer["grant"] = grant
    with container() as c:
        typer.echo(c.endusers.issue(subject, scope, client_id, ttl, transfer or None))
