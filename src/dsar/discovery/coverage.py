"""`dsar datamap coverage`: the personal data in the live sources that no walk of the data map reaches, and
mapped columns whose categories look wrong.

Every table of every source is sampled and classified by the same detectors as `discover`. A column holding
personal data is covered when its table is a collection reached from an identity of any kind (e-mail, phone,
customer id; directly or through references, the walk `build_plan` plans); otherwise it is listed. A mapped
field whose declared categories disagree with what its values certainly are (an e-mail column filed as a
name) is listed too, as a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dsar.datamap.model import DataMap
from dsar.discovery import detectors as d
from dsar.discovery.scan import Progress, SourceScan, scan_source
from dsar.discovery.schema import Log
from dsar.engine.plan import build_plan

PERSONAL = 0.6  # findings at least this sure count as personal data


@dataclass(frozen=True, slots=True)
class Gap:
    source: str
    table: str
    column: str
    category: str
    confidence: float
    why: str  # "not in the data map", "collection not reachable from any identity", ...
    evidence: str

    def line(self) -> str:
        return (
            f"{self.source}.{self.table}.{self.column}: {self.category} ({self.confidence:.2f}; {self.evidence}) "
            f"{self.why}"
        )


@dataclass
class CoverageReport:
    uncovered: list[Gap] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    covered: int = 0
    tables: int = 0

    @property
    def ok(self) -> bool:
        return not self.uncovered


def coverage(
    dm: DataMap, *, sample: int = 200, log: Log | None = None, progress: Progress | None = None
) -> CoverageReport:
    plan = build_plan(dm)
    by_table: dict[tuple[str, str], str] = {(dm.source_of(key), dm.table_of(key)): key for key in dm.collections}
    rep = CoverageReport()
    for name in sorted(dm.sources):
        if dm.sources[name].manual is not None:  # a person searches it: no schema to scan
            continue
        scan = scan_source(name, dm.sources[name].url, sample=sample, log=log, progress=progress)
        rep.tables += len(scan.tables)
        _source(dm, scan, by_table, set(plan.unreachable), rep)
    return rep


def _source(
    dm: DataMap, scan: SourceScan, by_table: dict[tuple[str, str], str], unreachable: set[str], rep: CoverageReport
) -> None:
    for t in scan.tables:
        key = by_table.get((scan.name, t.name))
        coll = dm.collections.get(key) if key else None
        for column, f in scan.personal_columns(t.name, at_least=PERSONAL):
            if f.category in (d.CREDENTIALS, d.UNIQUE_ID):
                continue  # secrets are excluded, not exported; a table's own key is not data about anyone alone
            if coll is None:
                rep.uncovered.append(
                    Gap(
                        scan.name,
                        t.name,
                        column,
                        f.category,
                        f.confidence,
                        "is in no collection of the data map",
                        f.evidence,
                    )
                )
                continue
            if key in unreachable:
                rep.uncovered.append(
                    Gap(
                        scan.name,
                        t.name,
                        column,
                        f.category,
                        f.confidence,
                        f"is in {key}, which no identity or reference reaches",
                        f.evidence,
                    )
                )
                continue
            rep.covered += 1
            spec = coll.fields.get(column)
            if spec is None or not spec.categories or not f.certain:
                continue
            if not any(_agrees(c, f.category) for c in spec.categories):
                rep.wrong.append(
                    f"{key}.fields.{column}: declared {', '.join(spec.categories)} but its values look like "
                    f"{f.category} ({f.evidence})"
                )


def _agrees(declared: str, found: str) -> bool:
    """A declared category agrees with a finding when one is the other's ancestor or both share a family."""
    if declared == found or found.startswith(declared + ".") or declared.startswith(found + "."):
        return True
    return d.family(declared) == d.family(found)
