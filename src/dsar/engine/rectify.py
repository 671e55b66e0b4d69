"""Rectification (GDPR Art. 16, CCPA §1798.106): new values for the fields the data map marks `rectifiable`.

Fields are named `<source>.<collection>.<column>`. Each new value is given as text (or null) and is checked
against the column as the source describes it (type, nullability, length): a value that does not fit refuses the
whole request before anything changes, and the error names the field and the expected type, never the value.
The subject's rows are found with the retrieval walk; each source then gets its changes in one transaction that
reads the old values first (`Rectifier.rectify`), so the record can hold what was before and what is after.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, cast

import orjson

from dsar.connectors.base import Change, ColumnSpec, Rectifier
from dsar.datamap.model import DataMap
from dsar.engine import spool as sealed_spool
from dsar.engine.execute import EngineOptions, Selection, Sources, normalize_email, run_retrieval
from dsar.engine.plan import Plan
from dsar.errors import DataMapError, InvalidInput

__all__ = ["MAX_FIELDS", "FieldChange", "apply", "check", "plain"]

MAX_FIELDS = 50
MAX_TEXT = 10_000
_INT = re.compile(r"^[+-]?[0-9]{1,19}$")
_DECIMAL = re.compile(r"^[+-]?[0-9]+(\.[0-9]+)?$")


@dataclass(frozen=True)
class FieldChange:
    collection: str  # <source>.<collection>
    column: str
    value: Any  # as the column holds it

    @property
    def name(self) -> str:
        return f"{self.collection}.{self.column}"


def _invalid(issues: list[str]) -> InvalidInput:
    return InvalidInput("; ".join(issues), code="InvalidRectification", issues=issues)


def check(dm: DataMap, sources: Sources, requested: Mapping[str, str | None], where: str = "") -> list[FieldChange]:
    """The requested values, each checked and converted to its column's type; `InvalidInput` lists every issue
    (each prefixed with `where`, a face's path to the values, e.g. `/startPersonalDataRectificationTask/...`)."""
    if not requested:
        raise _invalid(["name at least one field to rectify"])
    if len(requested) > MAX_FIELDS:
        raise _invalid([f"at most {MAX_FIELDS} fields at once"])
    issues: list[str] = []
    out: list[FieldChange] = []
    for name, raw in sorted(requested.items()):
        coll_key, _, column = name.rpartition(".")
        coll = dm.collections.get(coll_key)
        spec = coll.fields.get(column) if coll is not None else None
        if coll is None or spec is None or not spec.rectifiable:
            issues.append(f"{name} is not a rectifiable field of the data map")
            continue
        src = sources.get(dm.source_of(coll_key))
        if not src.capabilities.rectify:
            issues.append(f"{name}: the source {dm.source_of(coll_key)!r} cannot change values")
            continue
        col = src.describe(dm.table_of(coll_key)).column(column)
        if col is None:
            issues.append(f"{name}: the table has no such column")
            continue
        try:
            out.append(FieldChange(coll_key, column, coerce(col, raw)))
        except ValueError as exc:
            issues.append(f"{name}: {exc}")
    if issues:
        raise _invalid([where + i for i in issues])
    return out


def coerce(col: ColumnSpec, raw: str | None) -> Any:
    """The value as the column holds it, or `ValueError` saying what the column takes (never quoting `raw`)."""
    if raw is None:
        if not col.nullable:
            raise ValueError("the column needs a value (it cannot be null)")
        return None
    if not isinstance(raw, str) or len(raw) > MAX_TEXT:
        raise ValueError(f"give the value as text of at most {MAX_TEXT:,} characters")
    types = col.schema.get("type", [])
    kind = next((t for t in ([types] if isinstance(types, str) else types) if t != "null"), None)
    fmt = col.schema.get("format")
    text = raw.strip()
    if kind == "boolean":
        if text.lower() not in ("true", "false"):
            raise ValueError("expected true or false")
        return text.lower() == "true"
    if kind == "integer":
        if not _INT.match(text):
            raise ValueError("expected a whole number")
        return int(text)
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            raise ValueError("expected a number") from None
        if not math.isfinite(number):
            raise ValueError("expected a finite number")
        return number
    if kind is None:  # JSON column
        try:
            return json.loads(raw)
        except ValueError:
            raise ValueError("expected a JSON value") from None
    return _text(col, raw, text, fmt)


def _text(col: ColumnSpec, raw: str, text: str, fmt: str | None) -> Any:
    parsers: dict[str, tuple[Any, str]] = {
        "date-time": (datetime.fromisoformat, "a date and time (ISO 8601, e.g. 2024-05-01T10:00:00Z)"),
        "date": (date.fromisoformat, "a date (ISO 8601, e.g. 2024-05-01)"),
        "time": (time.fromisoformat, "a time (ISO 8601, e.g. 10:00:00)"),
    }
    if fmt in parsers:
        parse, what = parsers[fmt]
        try:
            return parse(text)
        except ValueError:
            raise ValueError(f"expected {what}") from None
    if fmt == "decimal":
        if not _DECIMAL.match(text):
            raise ValueError("expected a decimal number (e.g. 12.50)")
        try:
            return Decimal(text)
        except InvalidOperation:
            raise ValueError("expected a decimal number (e.g. 12.50)") from None
    if col.schema.get("contentEncoding") == "base64":
        try:
            return base64.b64decode(text, validate=True)
        except binascii.Error:
            raise ValueError("expected base64") from None
    if any(ord(c) < 32 and c not in "\t\n\r" for c in raw):
        raise ValueError("control characters are not allowed")
    if col.length is not None and len(raw) > col.length:
        raise ValueError(f"at most {col.length} characters")
    return raw


def apply(
    dm: DataMap,
    plan: Plan,
    sources: Sources,
    email: str,
    work: Path,
    opts: EngineOptions,
    fields: list[FieldChange],
    done: Mapping[str, list[dict[str, Any]]] | None = None,
    on_source_done: Callable[[str, list[dict[str, Any]]], None] | None = None,
) -> list[dict[str, Any]]:
    """Find the subject's rows of the fields' collections and set the values, one transaction per source.

    Returns what changed, one entry per row and field: collection, the row's key, field, before and after (as
    JSON values). An empty list: the subject has no row there (nothing changed). `done` holds what an earlier,
    interrupted run committed, per source: those sources are not changed again (their values before would be
    lost); `on_source_done` is told of each source once committed, to keep that."""
    wanted = {f.collection for f in fields}
    results, _ = run_retrieval(
        dm, plan, sources, {"email": normalize_email(email)}, work, opts, Selection(frozenset(wanted))
    )
    keys: dict[str, list[tuple[Any, ...]]] = {}
    for res in results:
        if res.key not in wanted or res.status != "found" or res.spool is None:
            continue
        coll = dm.collections[res.key]
        names = {c.name for c in res.columns}
        if any(c not in names for c in coll.primary_key):
            raise DataMapError(f"collections.{res.key}: rectification needs the key columns, which are excluded")
        keys[res.key] = sorted({tuple(row[c] for c in coll.primary_key) for row in _rows(res.spool)})
    by_source: dict[str, list[str]] = {}
    for key in sorted(keys):
        by_source.setdefault(dm.source_of(key), []).append(key)
    record: list[dict[str, Any]] = []
    for source, colls in sorted(by_source.items()):
        if done and source in done:
            record.extend(done[source])
            continue
        changes = [
            Change(
                dm.table_of(k),
                list(dm.collections[k].primary_key),
                keys[k],
                {f.column: f.value for f in fields if f.collection == k},
            )
            for k in colls
        ]
        rectifier = cast(Rectifier, sources.get(source))
        changed: list[dict[str, Any]] = []
        for k, change, befores in zip(colls, changes, rectifier.rectify(changes), strict=True):
            pk = dm.collections[k].primary_key
            for b in befores:
                for column, after in (change.values or {}).items():
                    changed.append(
                        {
                            "collection": k,
                            "key": {c: plain(v) for c, v in zip(pk, b.key, strict=True)},
                            "field": column,
                            "before": plain(b.values.get(column)),
                            "after": plain(after),
                        }
                    )
        if on_source_done is not None:
            on_source_done(source, changed)
        record.extend(changed)
    return record


def plain(value: Any) -> Any:
    """A value as JSON holds it (the record's form)."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def _rows(spool: Path) -> Iterator[dict[str, Any]]:
    with sealed_spool.open_spool(spool) as fh:  # sealed when encryption at rest is on
        for line in fh:
            if line.strip():
                yield orjson.loads(line)
