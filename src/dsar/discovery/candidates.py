"""Identity candidates of a scanned table: the columns a request could find a person's rows by.

Three kinds, as the data map knows them (`dsar.datamap.identities`):
- `email`: every column whose sampled values are e-mail addresses (several columns of one table, e.g. `email`
  and `alt_email`, become one identity with a list of columns), compared `lower_trim`;
- `phone`: a column of phone numbers in a person's table. The engine looks a phone up in E.164
  (`+4930901820`) and compares it as stored, so only a column whose sampled values are all E.164 is a sure
  identity (`match: exact`); one holding other formats (`(030) 901820`) is a candidate for review: a
  normalised copy of it (a generated column) can be mapped instead;
- `customer_id`: a unique column of a person's table whose name says it is a customer (member, account, ...)
  number, that points at no other table and is not an integer counter key, is sure; the single-column key
  of a table named for people (customers, members, ...) that has an e-mail identity is a candidate for
  review (a surrogate key is seldom what a person names in a request).

Sure candidates (confidence at least 0.8) become identities in the draft; the others are `REVIEW` comments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dsar.discovery import detectors as d
from dsar.discovery.scan import SourceScan

SURE = 0.8
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_CUSTOMER_NUMBER = re.compile(
    r"^(customer|client|member|membership|account|subscriber|loyalty|patron|contract|user)_?"
    r"(no|num|number|nr|ref|reference|code|id|key)$|^(external|crm|erp|billing|stripe)_?(customer|client)_?(id|no|ref)$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A column an identity could be looked up in; `name` is the identity's name (its kind, in a draft)."""

    kind: str  # email, phone or customer_id
    column: str
    match: str  # lower_trim or exact
    confidence: float
    evidence: str

    @property
    def certain(self) -> bool:
        return self.confidence >= SURE

    @property
    def name(self) -> str:
        return self.kind


def person_table(scan: SourceScan, table: str) -> bool:
    """Rows about people: the table has an e-mail identity or is named like a table of people."""
    return bool(scan.emails(table)) or d.person_table(table)


def candidates(scan: SourceScan, table: str) -> list[Candidate]:
    """The identity candidates of one table, sure ones first within each kind."""
    t = scan.table(table)
    if t is None:
        return []
    out = [
        Candidate("email", col, "lower_trim", f.confidence, f.evidence)
        for col, f in scan.personal_columns(table, at_least=SURE)
        if f.category == d.EMAIL
    ]
    people = person_table(scan, table)
    for col, f in scan.personal_columns(table, at_least=SURE):
        if f.category != d.PHONE:
            continue
        texts = [str(v).strip() for v in t.values(col) if v is not None and str(v).strip()]
        e164 = sum(1 for s in texts if _E164.match(s))
        if texts and e164 == len(texts) and people:
            out.append(Candidate("phone", col, "exact", f.confidence, f"{f.evidence}; all {e164} in E.164"))
        elif texts and e164 == len(texts):
            out.append(
                Candidate(
                    "phone",
                    col,
                    "exact",
                    0.6,
                    f"{f.evidence}, in E.164, but the table is not one of people: a phone shared by several "
                    "rows would give a requester other people's rows",
                )
            )
        else:
            out.append(
                Candidate(
                    "phone",
                    col,
                    "exact",
                    0.5,
                    f"{f.evidence}, {len(texts) - e164} of {len(texts)} not in E.164: a phone identity is looked "
                    "up in E.164 (+4930901820) as stored; map an E.164 copy of it (a generated column) instead",
                )
            )
    if people:
        out.extend(_customer_ids(scan, table))
    return out


def _customer_ids(scan: SourceScan, table: str) -> list[Candidate]:
    t = scan.table(table)
    assert t is not None
    taken = {c for c, _ in scan.personal_columns(table, at_least=SURE)} - {
        c for c, f in scan.personal_columns(table, at_least=SURE) if f.category == d.UNIQUE_ID
    }
    pointing = {r.column for r in scan.refs if r.table == table and r.confidence >= 0.5}
    out: list[Candidate] = []
    for c in t.columns:
        if c.name in taken or c.kind not in ("int", "text") or not t.single_unique(c.name):
            continue
        counter = t.primary_key == [c.name] and c.kind == "int"  # an internal counter, like `id`
        if _CUSTOMER_NUMBER.match(c.name) and not counter and c.name not in pointing:
            out.append(
                Candidate("customer_id", c.name, "exact", 0.85, f"unique column '{c.name}' of a table of people")
            )
    if not out and scan.emails(table) and d.person_table(table) and len(t.primary_key) == 1:
        pk = t.primary_key[0]
        out.append(
            Candidate(
                "customer_id",
                pk,
                "exact",
                0.6,
                f"the key '{pk}' of a table with an e-mail identity: an identity if requests name it "
                "(a customer number), not if it is an internal counter",
            )
        )
    return out


def sure(scan: SourceScan, table: str) -> list[Candidate]:
    return [c for c in candidates(scan, table) if c.certain]


def has_identity(scan: SourceScan, table: str) -> bool:
    """The table is an entry point of the draft's walk: it has a sure identity of any kind."""
    return bool(sure(scan, table))
