"""`dsar operators create|list|link|role|disable` and `dsar operators audit verify|export`: console accounts."""

from __future__ import annotations

import typer

from dsar.cli.common import container, fail
from dsar.db.migrate import upgrade
from dsar.operators.roles import ROLES

app = typer.Typer(help="Operators of the privacy team's console (/console) and its audit log.", no_args_is_help=True)
audit_app = typer.Typer(help="The console's hash-chained audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")

ROLE_HELP = "admin (operators, integrations), approver (decides), respondent (works assigned requests), viewer"


@app.command("create")
def create(
    email: str = typer.Option(..., "--email", help="the operator's e-mail (their sign-in name)"),
    role: str = typer.Option(..., "--role", help=ROLE_HELP),
) -> None:
    """Create a local account and print the one-time link that sets its password."""
    if role not in ROLES:
        fail(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    with container() as c:
        upgrade(c.db.engine)
        view, link = c.operators.create(email, role, actor="cli")
        hours = c.settings.console.setup_link_hours
    typer.echo(f"operator {view.email} ({view.role}) created")
    typer.echo(f"set the password (once, within {hours} hours): {link}")


@app.command("link")
def link(email: str = typer.Option(..., "--email", help="the operator's e-mail")) -> None:
    """A new one-time set-password link for an operator (a forgotten password); the old link stops working."""
    with container() as c:
        upgrade(c.db.engine)
        found = [o for o in c.operators.all() if o.email == email.strip().lower()]
        if not found:
            fail("no operator with this e-mail")
        typer.echo(c.operators.reset_link(found[0].id, actor="cli"))


@app.command("list")
def list_operators() -> None:
    """Every operator: e-mail, role, second factor, state."""
    with container() as c:
        upgrade(c.db.engine)
        for o in c.operators.all():
            state = "disabled" if o.disabled else ("active" if o.has_password or o.oidc else "invited")
            typer.echo(f"{o.email}\t{o.role}\t{'totp' if o.totp else '-'}\t{state}")


@app.command("role")
def role(
    email: str = typer.Option(..., "--email", help="the operator's e-mail"),
    to: str = typer.Option(..., "--to", help=ROLE_HELP),
) -> None:
    """Change an operator's role."""
    with container() as c:
        upgrade(c.db.engine)
        found = [o for o in c.operators.all() if o.email == email.strip().lower()]
        if not found:
            fail("no operator with this e-mail")
        c.operators.change(found[0].id, actor="cli", role=to)
        typer.echo(f"{found[0].email}: {to}")


@app.command("disable")
def disable(email: str = typer.Option(..., "--email", help="the operator's e-mail")) -> None:
    """Disable an operator: their sessions end and they cannot sign in."""
    with container() as c:
        upgrade(c.db.engine)
        found = [o for o in c.operators.all() if o.email == email.strip().lower()]
        if not found:
            fail("no operator with this e-mail")
        c.operators.change(found[0].id, actor="cli", disabled=True)
        typer.echo(f"{found[0].email}: disabled")


@audit_app.command("verify")
def verify() -> None:
    """Check every entry's hash chain; exit 1 naming the first entry that was edited, removed or forged."""
    with container() as c:
        upgrade(c.db.engine)
        result = c.operators.verify_audit()
    if not result.ok:
        fail(f"the audit log was tampered with at entry {result.first_bad}: {result.reason}")
    typer.echo(f"the audit log is intact ({result.entries} entries)")


@audit_app.command("export")
def export(fmt: str = typer.Option("csv", "--format", help="csv or json")) -> None:
    """Print the whole audit log (with each entry's hash, so a copy can be verified later)."""
    with container() as c:
        upgrade(c.db.engine)
        typer.echo(c.operators.export_audit(fmt, actor="cli"), nl=False)
