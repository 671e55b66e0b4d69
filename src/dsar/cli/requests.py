"""`dsar requests list|show|approve|deny|extend|assign|comment|complete|rectify|preference|preferences|categories`:
privacy requests as cases, from the shell.

Lists mask the subject (`j***@example.com`); nothing personal is printed. Every change is recorded in the
request's timeline with the operator named by `--as` (default: the shell user), and each decision in the
operators' audit log under the same name (`cli:<name>`), as the console records its operators' decisions.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import asdict
from typing import Any

import typer

from dsar.bootstrap import Container
from dsar.cli.common import container
from dsar.requests.service import DENIAL_BASES, Filter, RequestView

app = typer.Typer(help="Privacy requests (cases with legal deadlines).", no_args_is_help=True)

TENANT = typer.Option("default", "--tenant", help="the tenant whose requests to work")
ACTOR = typer.Option(None, "--as", help="who acts, as recorded in the timeline (default: the shell user)")


def _actor(name: str | None) -> str:
    return f"cli:{name or getpass.getuser()}"


def _audited(c: Container, actor: str, action: str, v: RequestView, detail: dict[str, Any] | None = None) -> None:
    """The decision in the operators' audit log too, as the console records it (no personal data, no free text)."""
    c.operators.record(actor, action, v.id, {k: val for k, val in (detail or {}).items() if val} or None)


def _doc(v: RequestView) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(json.dumps(asdict(v), default=str))  # dates and datetimes as ISO text
    return doc


def _line(v: RequestView) -> str:
    due = f"{v.due_on.isoformat()} ({v.days_left:+d}d{' OVERDUE' if v.overdue else ''})"
    return f"{v.id}  {v.type:13} {v.channel:7} {v.status:11} due {due:24} {v.jurisdiction or '-':6} {v.subject}"


@app.command("list")
def list_requests(
    status: str | None = typer.Option(None, "--status", help="received, in_progress, completed, denied, canceled"),
    type: str | None = typer.Option(None, "--type", help="access, portability, deletion, rectification, ..."),
    channel: str | None = typer.Option(None, "--channel"),
    jurisdiction: str | None = typer.Option(None, "--jurisdiction", help="e.g. US-CA, FR"),
    assignee: str | None = typer.Option(None, "--assignee"),
    overdue: bool = typer.Option(False, "--overdue", help="only open requests past their due date"),
    first: int = typer.Option(50, "--first", min=1, max=500, help="how many, newest first"),
    after: str | None = typer.Option(None, "--after", help="the cursor printed at the end of the previous page"),
    tenant: str = TENANT,
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Requests newest first, with due dates and days left."""
    with container() as c:
        svc = c.requests
        f = Filter(
            status=status,
            type=type,
            channel=channel,
            jurisdiction=jurisdiction.upper() if jurisdiction else None,
            assignee=assignee,
            overdue_on=svc.today() if overdue else None,
        )
        page = svc.page(tenant, f, first=first, after=after)
    if as_json:
        doc = {"items": [_doc(v) for v in page.items], "endCursor": page.end_cursor, "hasNextPage": page.has_next_page}
        typer.echo(json.dumps(doc, indent=2))
        return
    for v in page.items:
        typer.echo(_line(v))
    if page.has_next_page:
        typer.echo(f"more: --after {page.end_cursor}")


@app.command("show")
def show(
    request_id: str = typer.Argument(..., help="the request id"),
    tenant: str = TENANT,
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """One request with its deadline, decision, tasks and timeline."""
    with container() as c:
        v = c.requests.get(tenant, request_id)
    if as_json:
        typer.echo(json.dumps(_doc(v), indent=2))
        return
    typer.echo(_line(v))
    for key in (
        "rule",
        "received_at",
        "extendable_until",
        "extended_on",
        "extension_reason",
        "confirm_by",
        "assignee",
        "decision",
        "decision_basis",
        "decision_law",
        "decided_by",
        "responded_at",
    ):
        value = getattr(v, key)
        if value is not None:
            typer.echo(f"  {key}: {value}")
    for w in v.withheld:
        typer.echo(f"  withheld: {w['collection']} ({w['basis']})")
    for t in v.task_ids:
        typer.echo(f"  task: {t}")
    typer.echo("timeline:")
    for e in v.timeline:
        data = f" {json.dumps(e.data, sort_keys=True)}" if e.data else ""
        typer.echo(f"  {e.at.isoformat()}  {e.actor:20} {e.kind}{data}")


@app.command("approve")
def approve(request_id: str = typer.Argument(...), tenant: str = TENANT, actor: str | None = ACTOR) -> None:
    """Approve a received request: its work starts."""
    with container() as c:
        who = _actor(actor)
        v = c.requests.approve(tenant, request_id, actor=who)
        _audited(c, who, "approve", v)
    typer.echo(_line(v))


@app.command("deny")
def deny(
    request_id: str = typer.Argument(...),
    basis: str = typer.Option(..., "--basis", help=" | ".join(DENIAL_BASES)),
    note: str = typer.Option("", "--note", help="why, in words (kept in the timeline)"),
    law: str | None = typer.Option(None, "--law", help="the law behind a legal_exemption"),
    tenant: str = TENANT,
    actor: str | None = ACTOR,
) -> None:
    """Deny a request with a basis from the fixed list."""
    with container() as c:
        who = _actor(actor)
        v = c.requests.deny(tenant, request_id, actor=who, basis=basis, note=note, law=law)
        _audited(c, who, "deny", v, {"basis": basis, "law": law})
    typer.echo(_line(v))


@app.command("extend")
def extend(
    request_id: str = typer.Argument(...),
    reason: str = typer.Option(..., "--reason", help="why more time is needed (recorded, and told to the person)"),
    tenant: str = TENANT,
    actor: str | None = ACTOR,
) -> None:
    """Extend the deadline once, before it passes, as far as the request's rule allows."""
    with container() as c:
        who = _actor(actor)
        v = c.requests.extend(tenant, request_id, actor=who, reason=reason)
        _audited(c, who, "extend", v)
    typer.echo(_line(v))


@app.command("assign")
def assign(
    request_id: str = typer.Argument(...),
    to: str = typer.Option("", "--to", help="who works it (empty: nobody)"),
    tenant: str = TENANT,
    actor: str | None = ACTOR,
) -> None:
    """Assign a request to someone."""
    with container() as c:
        who = _actor(actor)
        v = c.requests.assign(tenant, request_id, actor=who, assignee=to or None)
        _audited(c, who, "assign", v, {"assignee": to})
    typer.echo(_line(v))


@app.command("comment")
def comment(
    request_id: str = typer.Argument(...),
    text: str = typer.Option(..., "--text"),
    tenant: str = TENANT,
    actor: str | None = ACTOR,
) -> None:
    """Add a comment to the request's timeline."""
    with container() as c:
        who = _actor(actor)
        v = c.requests.comment(tenant, request_id, actor=who, text=text)
        _audited(c, who, "comment", v)
    typer.echo(_line(v))


@app.command("complete")
def complete(
    request_id: str = typer.Argument(...),
    note: str = typer.Option(..., "--note", help="what was done (kept in the timeline, the record an auditor reads)"),
    tenant: str = TENANT,
    actor: str | None = ACTOR,
) -> None:
    """Answer an approved request whose work was done outside dsar or needs no engine task (an opt-out honoured,
    an objection handled); refused while an engine task of it still runs."""
    with container() as c:
        who = _actor(actor)
        v = c.requests.complete(tenant, request_id, actor=who, note=note)
        _audited(c, who, "complete", v)
    typer.echo(_line(v))


PLACE = typer.Option(None, "--jurisdiction", help="where the person is, e.g. FR or US-CA (default: from settings)")


@app.command("rectify")
def rectify(
    email: str = typer.Argument(..., help="the person's e-mail"),
    values: list[str] = typer.Option(
        ..., "--set", help="source.collection.column=new value (a field the data map marks rectifiable); repeat"
    ),
    jurisdiction: str | None = PLACE,
    tenant: str = TENANT,
) -> None:
    """Start a rectification (GDPR Art. 16): the values are checked before anything changes."""
    wanted: dict[str, str | None] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            typer.echo("error: --set takes source.collection.column=value", err=True)
            raise typer.Exit(2)
        wanted[name.strip()] = value
    with container() as c:
        task_id = c.rectifications.start(tenant, email, wanted, channel="cli", jurisdiction=jurisdiction)
    typer.echo(f"rectification task {task_id} started")


@app.command("preference")
def preference(
    email: str = typer.Argument(..., help="the person's e-mail"),
    kind: str = typer.Argument(..., help="restriction | objection | opt_out_sale | opt_out_sharing"),
    withdraw: bool = typer.Option(False, "--withdraw", help="the person withdraws it (or it is lifted)"),
    scope: str | None = typer.Option(None, "--scope", help="what it covers, e.g. direct marketing (default: all)"),
    jurisdiction: str | None = PLACE,
    tenant: str = TENANT,
    actor: str | None = ACTOR,
) -> None:
    """Record a restriction, objection or opt-out: a case answered at once, and a webhook event."""
    with container() as c:
        done = c.preferences.record(
            tenant,
            email,
            kind,
            active=not withdraw,
            scope=scope,
            channel="cli",
            actor=_actor(actor),
            jurisdiction=jurisdiction,
        )
    state = "withdrawn" if withdraw else "recorded"
    typer.echo(f"{kind} {state} (request {done.request_id}, subject {done.subject_ref})")


@app.command("preferences")
def preferences(
    email: str = typer.Argument(..., help="the person's e-mail"),
    tenant: str = TENANT,
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """A person's standing preferences, as the company's systems must honour them."""
    with container() as c:
        ref, views = c.preferences.of_email(tenant, email)
    if as_json:
        doc = {"subjectRef": ref, "preferences": [json.loads(json.dumps(asdict(v), default=str)) for v in views]}
        typer.echo(json.dumps(doc, indent=2))
        return
    typer.echo(f"subject {ref}")
    for v in views:
        scope = f" ({v.scope})" if v.scope else ""
        typer.echo(f"  {v.preference:16} {'active' if v.active else 'withdrawn':10} {v.law}{scope}")


@app.command("categories")
def categories(
    email: str = typer.Argument(..., help="the person's e-mail"),
    jurisdiction: str | None = PLACE,
    tenant: str = TENANT,
    actor: str | None = ACTOR,
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Answer a request to know the categories (CCPA §1798.110) from the data map; no data is read."""
    with container() as c:
        done = c.categories.answer(tenant, email, channel="cli", actor=_actor(actor), jurisdiction=jurisdiction)
    if as_json:
        typer.echo(json.dumps({"requestId": done.request_id, **asdict(done.answer)}, indent=2))
        return
    typer.echo(f"request {done.request_id} answered")
    for key, items in asdict(done.answer).items():
        typer.echo(f"{key}:")
        for item in items:
            typer.echo(f"  - {item}")
