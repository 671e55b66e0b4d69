"""Response deadlines by jurisdiction: the rules table (rules.yaml, extendable by the company) and date arithmetic.

A rule says how long a controller has to answer (`respond`), by how much it may extend that once (`extension`,
only before the first deadline), whether receipt must be confirmed first (`confirm_receipt`), how long an appeal
may take (`appeal`), and per request type where the law differs (`by_type`, e.g. the CCPA's 15 business days for
an opt-out). Periods are data ("45 days", "10 business days", "1 month"), never code, so a new state law is a
new entry in a YAML file (docs/requests.md cites the article behind every shipped rule).

Dates are calendar dates in the company's time zone: a request received on a day is due at the end of the day
the rule names. No I/O but reading the rules files; no clock (callers pass the dates).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from dsar.errors import Conflict, DsarError

__all__ = [
    "REQUEST_TYPES",
    "Deadline",
    "Period",
    "Rule",
    "RuleBook",
    "RulesError",
    "load_rules",
]

# The request types a rule may single out in `by_type` (issue 14; GDPR Art. 15-21, CCPA §1798.100-.125).
REQUEST_TYPES = frozenset(
    {"access", "portability", "deletion", "rectification", "restriction", "objection", "opt_out", "categories"}
)

_PERIOD = re.compile(r"^\s*(\d{1,4})\s+(business\s+days?|days?|months?)\s*$", re.IGNORECASE)
_SAT = 5


class RulesError(DsarError):
    """The rules table is wrong: which file, which rule, and what to write instead."""

    kind = "config"
    code = "RulesInvalid"


@dataclass(frozen=True)
class Period:
    amount: int
    unit: Literal["days", "business_days", "months"]

    @classmethod
    def parse(cls, text: object, where: str) -> Period:
        m = _PERIOD.match(str(text)) if isinstance(text, str | int) else None
        if m is None:
            raise RulesError(f'{where}: {text!r} is not a period; write "45 days", "10 business days" or "1 month"')
        word = m.group(2).lower()
        unit: Literal["days", "business_days", "months"] = (
            "business_days" if word.startswith("business") else "months" if word.startswith("month") else "days"
        )
        return cls(int(m.group(1)), unit)

    def after(self, start: date) -> date:
        """The last day of the period that starts the day after `start` (the day of receipt is not counted)."""
        if self.unit == "days":
            return start + timedelta(days=self.amount)
        if self.unit == "business_days":
            day, left = start, self.amount
            while left:
                day += timedelta(days=1)
                if day.weekday() < _SAT:
                    left -= 1
            return day
        # A period in months ends on the same date of the month it reaches, or on that month's last day when it
        # has no such date (31 January + 1 month = 28 or 29 February): Regulation 1182/71, Art. 3(2)(c).
        month0 = start.month - 1 + self.amount
        year, month = start.year + month0 // 12, month0 % 12 + 1
        return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))

    def __str__(self) -> str:
        unit = self.unit.replace("_", " ")
        return f"{self.amount} {unit[:-1] if self.amount == 1 else unit}"


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    law: str
    jurisdictions: tuple[str, ...]
    respond: Period
    extension: Period | None
    extension_notice: str = ""
    confirm_receipt: Period | None = None
    appeal_respond: Period | None = None
    appeal_extension: Period | None = None
    ends_on_working_day: bool = False
    by_type: Mapping[str, Rule] | None = None
    origin: str = ""  # the file that defined it, for error messages

    def for_type(self, request_type: str) -> Rule:
        """The rule as it applies to one request type (a `by_type` entry overrides respond and extension)."""
        return (self.by_type or {}).get(request_type, self)

    def due(self, received: date) -> date:
        return self._end(self.respond.after(received))

    def extended_due(self, received: date) -> date | None:
        """The latest due date an extension can give, or None when the rule allows none."""
        if self.extension is None:
            return None
        return self._end(self.extension.after(self.respond.after(received)))

    def confirm_by(self, received: date) -> date | None:
        return None if self.confirm_receipt is None else self._end(self.confirm_receipt.after(received))

    def appeal_due(self, received: date) -> date | None:
        return None if self.appeal_respond is None else self._end(self.appeal_respond.after(received))

    def _end(self, day: date) -> date:
        if self.ends_on_working_day:
            while day.weekday() >= _SAT:
                day += timedelta(days=1)
        return day


@dataclass(frozen=True)
class Deadline:
    """A request's deadlines, computed once at receipt and kept with the request."""

    rule: str
    received: date
    due: date
    extendable_until: date | None  # None: this rule allows no extension
    confirm_by: date | None

    def days_left(self, today: date) -> int:
        """Calendar days until the due date: 0 on the due date, negative once overdue."""
        return (self.due - today).days

    def extend(self, today: date, rule: Rule, *, reason: str) -> Deadline:
        """The deadline after the one extension a rule allows, asked for on `today` (refused with the reason)."""
        if not reason.strip():
            raise _refused("an extension needs a reason, which is recorded and told to the person")
        if self.extendable_until is None:
            raise _refused(f"{rule.name} allows no extension ({rule.law})")
        if self.due == self.extendable_until:
            raise _refused("this request was extended already; a rule allows one extension")
        if today > self.due:
            raise _refused(
                f"the due date {self.due.isoformat()} has passed; {rule.name} allows an extension only before it"
            )
        return replace(self, due=self.extendable_until)


def _refused(message: str) -> DsarError:
    return Conflict(message, code="ExtensionRefused")


class RuleBook:
    """Rules by id, and the rule of a jurisdiction ("US-CA", "FR", "EU"), falling back to the default rule."""

    def __init__(self, rules: Mapping[str, Rule], default: str, default_origin: str = "") -> None:
        if default not in rules:
            where = f"{default_origin}: " if default_origin else ""
            raise RulesError(f"{where}the default rule {default!r} is not defined; define it under rules:")
        self.rules = dict(rules)
        self.default = default
        self._by_place: dict[str, str] = {}
        for rule in rules.values():
            for place in rule.jurisdictions:
                other = self._by_place.setdefault(place.upper(), rule.id)
                if other != rule.id:
                    raise RulesError(
                        f"{rule.origin}: jurisdiction {place!r} is claimed by both rule {other!r} "
                        f"({rules[other].origin}) and rule {rule.id!r}; a place has one rule"
                    )

    def rule(self, rule_id: str) -> Rule:
        try:
            return self.rules[rule_id]
        except KeyError:
            raise RulesError(f"no rule {rule_id!r}; known: {', '.join(sorted(self.rules))}") from None

    def for_jurisdiction(self, jurisdiction: str | None) -> Rule:
        """The rule of a place; "US-CA" falls back to "US", then to the default rule."""
        place = (jurisdiction or "").strip().upper()
        while place:
            if place in self._by_place:
                return self.rules[self._by_place[place]]
            place = place.rpartition("-")[0]
        return self.rules[self.default]

    def deadline(self, jurisdiction: str | None, request_type: str, received: date) -> Deadline:
        rule = self.for_jurisdiction(jurisdiction).for_type(request_type)
        return Deadline(
            rule=rule.id,
            received=received,
            due=rule.due(received),
            extendable_until=rule.extended_due(received),
            confirm_by=rule.confirm_by(received),
        )


def load_rules(extra: Iterable[Path] = ()) -> RuleBook:
    """The shipped rules, then each company file in order: a rule with the same id replaces the shipped one."""
    shipped = resources.files("dsar.requests").joinpath("rules.yaml").read_text(encoding="utf-8")
    raw = _read(shipped, "rules.yaml (shipped)")
    rules = _rules(raw, "rules.yaml (shipped)")
    default, default_origin = str(raw.get("default", "default")), "rules.yaml (shipped)"
    for path in extra:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise RulesError(f"cannot read the rules file {path}: {exc.strerror}; check DSAR_REQUESTS__RULES") from None
        more = _read(text, str(path))
        rules.update(_rules(more, str(path)))
        if "default" in more:
            default, default_origin = str(more["default"]), str(path)
    return RuleBook(rules, default, default_origin)


def _read(text: str, where: str) -> Mapping[str, Any]:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise RulesError(f"{where}{line}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("rules", {}), dict):
        raise RulesError(f"{where}: expected a mapping with a `rules:` mapping of rule id to rule")
    return raw


_KEYS = {
    "name",
    "law",
    "jurisdictions",
    "respond",
    "extension",
    "extension_notice",
    "confirm_receipt",
    "appeal",
    "ends_on_working_day",
    "by_type",
}


def _rules(raw: Mapping[str, Any], where: str) -> dict[str, Rule]:
    return {str(rid): _rule(str(rid), body, f"{where}: rule {rid}") for rid, body in (raw.get("rules") or {}).items()}


def _rule(rid: str, body: object, where: str) -> Rule:
    if not isinstance(body, dict):
        raise RulesError(f"{where}: expected a mapping")
    unknown = set(body) - _KEYS
    if unknown:
        raise RulesError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(_KEYS))}")
    if "respond" not in body:
        raise RulesError(f'{where}: `respond` is required, e.g. respond: "45 days"')
    places = body.get("jurisdictions") or []
    if not isinstance(places, list):
        raise RulesError(f"{where}: `jurisdictions` is a list of codes such as EU, FR or US-CA")
    odd = [p for p in places if not isinstance(p, str)]
    if odd:  # YAML reads a bare NO (Norway) as false, and ON as true
        raise RulesError(f'{where}: jurisdiction {odd[0]!r} is not a code; quote it ("NO")')
    appeal = body.get("appeal")
    if appeal is not None and not (isinstance(appeal, dict) and "respond" in appeal):
        raise RulesError(f"{where}: `appeal` is a mapping with `respond` (and optionally `extension`), or absent")
    rule = Rule(
        id=rid,
        name=str(body.get("name", rid)),
        law=str(body.get("law", "")),
        jurisdictions=tuple(p.upper() for p in places),
        respond=Period.parse(body["respond"], f"{where}: respond"),
        extension=_optional(body.get("extension"), f"{where}: extension"),
        extension_notice=str(body.get("extension_notice", "")),
        confirm_receipt=_optional(body.get("confirm_receipt"), f"{where}: confirm_receipt"),
        appeal_respond=None if appeal is None else Period.parse(appeal["respond"], f"{where}: appeal.respond"),
        appeal_extension=None if appeal is None else _optional(appeal.get("extension"), f"{where}: appeal.extension"),
        ends_on_working_day=bool(body.get("ends_on_working_day", False)),
        origin=where.split(": rule ")[0],
    )
    by_type = body.get("by_type") or {}
    if not isinstance(by_type, dict):
        raise RulesError(f"{where}: `by_type` maps a request type to respond/extension")
    overrides: dict[str, Rule] = {}
    for rtype, over in by_type.items():
        if rtype not in REQUEST_TYPES:
            raise RulesError(
                f"{where}: by_type {rtype!r} is not a request type; one of {', '.join(sorted(REQUEST_TYPES))}"
            )
        if not isinstance(over, dict) or set(over) - {"respond", "extension"}:
            raise RulesError(f"{where}: by_type {rtype}: only `respond` and `extension` can differ by type")
        overrides[rtype] = replace(
            rule,
            respond=Period.parse(over["respond"], f"{where}: by_type {rtype}: respond")
            if "respond" in over
            else rule.respond,
            extension=_optional(over.get("extension"), f"{where}: by_type {rtype}: extension")
            if "extension" in over
            else rule.extension,
        )
    return replace(rule, by_type=overrides or None)


def _optional(value: object, where: str) -> Period | None:
    return None if value is None else Period.parse(value, where)
