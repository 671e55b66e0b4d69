"""The auditor's side of privacy requests: the record (CCPA regs §7101) and the yearly metrics (§7102).

Both read the requests received in a period, given as UTC instants (the caller turns the company's days into
them). The metrics are one GROUP BY whose rows are a histogram of days to respond, so a year of a million
requests costs the same few thousand rows (bench/cases.py); the record streams in batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from dsar.db.engine import Database
from dsar.requests import repository as repo
from dsar.requests.repository import CANCELED, COMPLETED, DENIED

__all__ = ["Metrics", "TypeMetrics", "metrics", "record"]


@dataclass(frozen=True)
class TypeMetrics:
    received: int
    complied_whole: int
    complied_part: int
    denied: int
    denied_by_basis: dict[str, int]
    open: int
    median_days: float | None
    mean_days: float | None
    overdue: int = 0  # still open past the due date (as of the report)
    late: int = 0  # answered after the due date


@dataclass(frozen=True)
class Metrics:
    start: date
    end: date
    by_type: dict[str, TypeMetrics]


def record(db: Database, tenant: str | None, lo: datetime, hi: datetime) -> Iterator[dict[str, Any]]:
    """Rows of the request record (§7101(a)) received in [lo, hi), oldest first, streamed."""
    with db.session(write=False) as s:
        for r in repo.record(s, tenant, lo, hi):
            yield {
                "request_id": r.id,
                "received_at": r.received_at.isoformat(),
                "type": r.type,
                "channel": r.channel,
                "jurisdiction": r.jurisdiction or "",
                "rule": r.rule,
                "subject": r.subject_masked,
                "subject_ref": r.subject_ref,
                "status": r.status,
                "due_on": r.due_on.isoformat(),
                "extended_on": r.extended_on.isoformat() if r.extended_on else "",
                "extension_reason": r.extension_reason or "",
                "decision": r.decision or "",
                "decision_basis": r.decision_basis or "",
                "decision_law": r.decision_law or "",
                "decided_by": r.decided_by or "",
                "responded_at": r.responded_at.isoformat() if r.responded_at else "",
                "withheld": ";".join(w["collection"] for w in (r.withheld or [])),
            }


def metrics(
    db: Database, tenant: str | None, start: date, end: date, lo: datetime, hi: datetime, today: date
) -> Metrics:
    """Per request type, in the shape of §7102(a)(1): received, complied with in whole or in part, denied (by
    basis), the median and mean days to a substantive response; and, for the team, overdue and late answers."""
    counts: dict[str, dict[str, Any]] = {}
    with db.session(write=False) as s:
        rows = repo.metric_rows(s, tenant, lo, hi)
        overdue = repo.overdue_counts(s, tenant, lo, hi, today)
    for rtype, status, decision, basis, days, late, n in rows:
        c = counts.setdefault(
            rtype,
            {"received": 0, "whole": 0, "part": 0, "denied": 0, "open": 0, "late": 0, "bases": {}, "days": {}},
        )
        c["received"] += n
        if status == COMPLETED:
            c["part" if decision == "partial" else "whole"] += n
        elif status == DENIED:
            c["denied"] += n
            c["bases"][basis or "unspecified"] = c["bases"].get(basis or "unspecified", 0) + n
        elif status != CANCELED:
            c["open"] += n
        if days is not None and status in (COMPLETED, DENIED):
            c["days"][days] = c["days"].get(days, 0) + n
            c["late"] += n if late else 0
    by_type = {
        t: TypeMetrics(
            received=c["received"],
            complied_whole=c["whole"],
            complied_part=c["part"],
            denied=c["denied"],
            denied_by_basis=dict(sorted(c["bases"].items())),
            open=c["open"],
            median_days=_median(c["days"]),
            mean_days=_mean(c["days"]),
            overdue=overdue.get(t, 0),
            late=c["late"],
        )
        for t, c in sorted(counts.items())
    }
    return Metrics(start, end, by_type)


def _median(histogram: dict[int, int]) -> float | None:
    """The median of values given as {value: count} (the mean of the two middle ones for an even count)."""
    total = sum(histogram.values())
    if not total:
        return None
    lo_rank, hi_rank = (total - 1) // 2, total // 2
    lo = hi = None
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if lo is None and seen > lo_rank:
            lo = value
        if seen > hi_rank:
            hi = value
            break
    assert lo is not None and hi is not None
    return (lo + hi) / 2


def _mean(histogram: dict[int, int]) -> float | None:
    total = sum(histogram.values())
    return round(sum(v * n for v, n in histogram.items()) / total, 2) if total else None
