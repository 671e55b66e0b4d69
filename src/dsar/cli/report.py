"""`dsar report metrics|record`: the yearly metrics (CCPA regs §7102) and the request record (§7101)."""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import asdict
from datetime import date

import typer

from dsar.cli.common import container

app = typer.Typer(help="Reports for auditors: metrics and the request record.", no_args_is_help=True)

FROM = typer.Option(..., "--from", help="first day, YYYY-MM-DD (in DSAR_REQUESTS__TIMEZONE)")
TO = typer.Option(..., "--to", help="the day after the last, YYYY-MM-DD")
TENANT = typer.Option(None, "--tenant", help="one tenant (default: all)")


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        typer.echo(f"error: {option} {value!r} is not a date; write YYYY-MM-DD", err=True)
        raise typer.Exit(2) from None


@app.command("metrics")
def metrics(
    start: str = FROM,
    end: str = TO,
    tenant: str | None = TENANT,
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Per request type: received, complied with in whole or in part, denied (by basis), days to respond."""
    lo, hi = _day(start, "--from"), _day(end, "--to")
    with container() as c:
        m = c.requests.metrics(tenant, lo, hi)
    if as_json:
        typer.echo(json.dumps(asdict(m), indent=2, default=str))
        return
    typer.echo(f"requests received {lo.isoformat()} to {hi.isoformat()} (end excluded)")
    typer.echo(
        f"{'type':14}{'received':>9}{'whole':>7}{'part':>6}{'denied':>8}{'open':>6}{'overdue':>8}{'late':>6}"
        f"{'median d':>10}{'mean d':>8}"
    )
    for rtype, t in m.by_type.items():
        med = "-" if t.median_days is None else f"{t.median_days:g}"
        mean = "-" if t.mean_days is None else f"{t.mean_days:g}"
        typer.echo(
            f"{rtype:14}{t.received:>9}{t.complied_whole:>7}{t.complied_part:>6}{t.denied:>8}{t.open:>6}"
            f"{t.overdue:>8}{t.late:>6}{med:>10}{mean:>8}"
        )
        for basis, n in t.denied_by_basis.items():
            typer.echo(f"  denied, {basis}: {n}")


@app.command("record")
def record(
    start: str = FROM,
    end: str = TO,
    tenant: str | None = TENANT,
    format: str = typer.Option("csv", "--format", help="csv or json (JSON lines)"),
) -> None:
    """Every request received in the period: dates, type, channel, decision and basis, response (streamed)."""
    lo, hi = _day(start, "--from"), _day(end, "--to")
    if format not in ("csv", "json"):
        typer.echo("error: --format is csv or json", err=True)
        raise typer.Exit(2)
    with container() as c:
        writer: csv.DictWriter[str] | None = None
        for row in c.requests.record(tenant, lo, hi):
            if format == "json":
                sys.stdout.write(json.dumps(row) + "\n")
                continue
            if writer is None:
                writer = csv.DictWriter(sys.stdout, fieldnames=list(row))
                writer.writeheader()
            writer.writerow(row)
