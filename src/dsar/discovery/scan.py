"""Read sources and find their personal data: the analysis `discover` drafts from and `coverage` checks with.

Per source: the catalogue, a bounded sample of every table, the categories of every column (two passes:
a table whose columns hold e-mails or phone numbers makes its `name` and `city` columns personal too), and
the references between tables.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from dsar.connectors.base import root_cause
from dsar.db.engine import unreachable
from dsar.discovery import detectors as d
from dsar.discovery.references import Ref, infer
from dsar.discovery.schema import Log, SourceReader, Table
from dsar.errors import SourceError

Progress = Callable[[str, int, int], None]
IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class SourceScan:
    name: str
    url: str
    dialect: str
    tables: list[Table]
    findings: dict[tuple[str, str], list[d.Finding]] = field(default_factory=dict)
    refs: list[Ref] = field(default_factory=list)

    def table(self, name: str) -> Table | None:
        return next((t for t in self.tables if t.name == name), None)

    def best(self, table: str, column: str) -> d.Finding | None:
        found = self.findings.get((table, column)) or []
        return found[0] if found else None

    def personal_columns(self, table: str, *, at_least: float = 0.5) -> list[tuple[str, d.Finding]]:
        """(column, best finding) of a table's columns holding personal data (credentials included)."""
        t = self.table(table)
        out = []
        for c in t.columns if t else []:
            f = self.best(table, c.name)
            if f is not None and f.confidence >= at_least:
                out.append((c.name, f))
        return out

    def emails(self, table: str) -> list[str]:
        return [c for c, f in self.personal_columns(table, at_least=0.8) if f.category == d.EMAIL]

    def phones(self, table: str) -> list[str]:
        return [c for c, f in self.personal_columns(table, at_least=0.8) if f.category == d.PHONE]


def source_name(url: str, taken: set[str]) -> str:
    """A source name from its URL: the SQLite file's stem or the database name, made an identifier."""
    tail = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    stem = tail.rsplit(".", 1)[0] if "." in tail else tail
    name = re.sub(r"[^A-Za-z0-9_]", "_", stem) or "source"
    if not IDENT.match(name):
        name = "s_" + name
    out, i = name, 2
    while out in taken:
        out, i = f"{name}_{i}", i + 1
    return out


def scan_source(
    name: str,
    url: str,
    *,
    sample: int,
    log: Log | None = None,
    progress: Progress | None = None,
    use_declared: bool = True,
) -> SourceScan:
    """Read one source: catalogue, samples, categories, references. A source that cannot be read raises
    `SourceError` whose message says which and why in one line (no credentials)."""
    try:
        return _scan(name, url, sample, log, progress, use_declared)
    except SourceError as exc:
        if exc.__cause__ is None:
            raise
        raise SourceError(name, f"source {name}: {unreachable(url, root_cause(exc))}") from None


def _scan(
    name: str, url: str, sample: int, log: Log | None, progress: Progress | None, use_declared: bool
) -> SourceScan:
    reader = SourceReader(name, url, log)
    try:
        tables = reader.tables()
        for i, t in enumerate(tables):
            if progress is not None:
                progress(f"{name}: sampling", i, len(tables))
            reader.sample(t, sample)
        scan = SourceScan(name, url, reader.dialect, tables)
        classify_all(scan)
        if progress is not None:
            progress(f"{name}: references", 0, 1)
        scan.refs = infer(tables, reader.present, use_declared=use_declared)
        # the rows of a table pointing at a person's table (one with an e-mail, or a table of people with a
        # phone) are about that person: its free text counts
        owners = {t.name for t in tables if scan.emails(t.name) or (d.person_table(t.name) and scan.phones(t.name))}
        linked = {r.table for r in scan.refs if r.parent in owners and r.confidence >= 0.5}
        if linked - owners:
            classify_all(scan, linked)
        mark_activity(scan, owners | linked)
        mark_keys(scan)
        return scan
    finally:
        reader.close()


def classify_all(scan: SourceScan, linked: set[str] | None = None) -> None:
    """Categories of every column; `linked`: tables known to hold rows about a person (they point at one)."""
    for second in (False, True) if linked is None else (True,):
        personal = {t.name for t in scan.tables if _personal(scan, t)} | (linked or set()) if second else set()
        for t in scan.tables:
            if second and t.name not in personal:
                continue  # classified as it was in the first pass
            for c in t.columns:
                found = d.classify(
                    c.name,
                    t.name,
                    t.values(c.name),
                    text=c.kind == "text",
                    temporal=c.kind == "temporal",
                    personal_table=t.name in personal,
                )
                dob = any(f.category == d.DOB for f in found) and c.kind == "temporal"
                if dob and t.values(c.name) and not d.plausible_birth_dates(t.values(c.name)):
                    found = [f for f in found if f.category != d.DOB]
                if c.name in t.primary_key and len(t.primary_key) == 1 and c.kind == "int":
                    found = []  # a surrogate key: `mark_keys` says whose
                scan.findings[(t.name, c.name)] = found


def _personal(scan: SourceScan, t: Table) -> bool:
    strong = (d.EMAIL, d.PHONE, d.NATIONAL_ID, d.CARD, d.IBAN, d.DOB)
    for c in t.columns:
        f = scan.best(t.name, c.name)
        if f is not None and f.confidence >= 0.75 and d.family(f.category) in strong:
            return True
    names = [c.name.lower() for c in t.columns]
    return sum(1 for n in names if re.search(r"first_?name|last_?name|surname|birth", n)) >= 1


def mark_activity(scan: SourceScan, about_people: set[str]) -> None:
    """The times in a log of activity whose rows are about a person (they hold an e-mail or point at a
    person's table): when someone logged in or visited is data about them."""
    for t in scan.tables:
        if t.name not in about_people or not d.activity_table(t.name):
            continue
        for c in t.columns:
            if c.kind == "temporal" and not scan.findings.get((t.name, c.name)):
                scan.findings[(t.name, c.name)] = [d.activity_time(t.name, c.name)]


def mark_keys(scan: SourceScan) -> None:
    """A table with an e-mail identity is a person's: its surrogate key is that person's unique id."""
    for t in scan.tables:
        if scan.emails(t.name) and len(t.primary_key) == 1:
            pk = t.primary_key[0]
            if not scan.findings.get((t.name, pk)):
                scan.findings[(t.name, pk)] = [
                    d.Finding(d.UNIQUE_ID, 0.8, "the key of a table with an e-mail identity")
                ]
