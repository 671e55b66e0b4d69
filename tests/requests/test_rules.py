"""Deadlines by jurisdiction: every shipped rule on fixed dates, weekends, month ends, extensions, company files."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from dsar.errors import Conflict
from dsar.requests.rules import Period, RulesError, load_rules

BOOK = load_rules()
# Thursday 2026-01-15; 45 days later is Sunday 2026-03-01.
RECEIVED = date(2026, 1, 15)


@pytest.mark.parametrize(
    ("place", "rule", "due", "extended"),
    [
        ("FR", "gdpr", date(2026, 2, 16), date(2026, 4, 15)),  # 15 Feb is a Sunday: the next working day
        ("EU", "gdpr", date(2026, 2, 16), date(2026, 4, 15)),
        ("GB", "uk-gdpr", date(2026, 2, 15), date(2026, 4, 15)),
        ("US-CA", "ccpa", date(2026, 3, 1), date(2026, 4, 15)),
        ("US-VA", "vcdpa", date(2026, 3, 1), date(2026, 4, 15)),
        ("US-CO", "cpa", date(2026, 3, 1), date(2026, 4, 15)),
        ("US-CT", "ctdpa", date(2026, 3, 1), date(2026, 4, 15)),
        ("US-UT", "ucpa", date(2026, 3, 1), date(2026, 4, 15)),
        ("US-TX", "tdpsa", date(2026, 3, 1), date(2026, 4, 15)),
        ("US-OR", "ocpa", date(2026, 3, 1), date(2026, 4, 15)),
        ("BR", "lgpd", date(2026, 1, 30), None),
        ("JP", "default", date(2026, 2, 14), None),
        (None, "default", date(2026, 2, 14), None),
        ("US-NY", "default", date(2026, 2, 14), None),  # no state law: neither US-NY nor US has a rule
    ],
)
def test_due_and_extended_dates_of_every_shipped_rule(
    place: str | None, rule: str, due: date, extended: date | None
) -> None:
    d = BOOK.deadline(place, "access", RECEIVED)
    assert (d.rule, d.due, d.extendable_until) == (rule, due, extended)


def test_every_shipped_rule_cites_its_law_and_is_tested_above() -> None:
    for rule in BOOK.rules.values():
        assert rule.law and rule.name, rule.id
    shipped = {"gdpr", "uk-gdpr", "ccpa", "vcdpa", "cpa", "ctdpa", "ucpa", "tdpsa", "ocpa", "lgpd", "default"}
    assert set(BOOK.rules) == shipped


def test_a_month_ends_on_the_last_day_of_a_shorter_month() -> None:
    assert Period(1, "months").after(date(2026, 1, 31)) == date(2026, 2, 28)
    assert Period(1, "months").after(date(2028, 1, 31)) == date(2028, 2, 29)  # leap year
    assert Period(2, "months").after(date(2026, 12, 31)) == date(2027, 2, 28)  # across the year
    assert Period(3, "months").after(date(2026, 11, 30)) == date(2027, 2, 28)


def test_business_days_skip_weekends() -> None:
    # Friday 2026-01-16 + 10 business days = Friday 2026-01-30; from a Saturday it starts on Monday.
    assert Period(10, "business_days").after(date(2026, 1, 16)) == date(2026, 1, 30)
    assert Period(1, "business_days").after(date(2026, 1, 17)) == date(2026, 1, 19)
    assert Period(15, "business_days").after(date(2026, 1, 15)) == date(2026, 2, 5)


def test_ccpa_confirms_receipt_in_ten_business_days_and_opt_outs_take_fifteen_without_extension() -> None:
    access = BOOK.deadline("US-CA", "access", RECEIVED)
    assert access.confirm_by == date(2026, 1, 29)
    opt_out = BOOK.deadline("US-CA", "opt_out", RECEIVED)
    assert (opt_out.due, opt_out.extendable_until) == (date(2026, 2, 5), None)
    assert BOOK.deadline("US-VA", "opt_out", RECEIVED).due == date(2026, 3, 1)  # no such override in Virginia


def test_appeal_periods() -> None:
    assert BOOK.rule("vcdpa").appeal_due(RECEIVED) == date(2026, 3, 16)
    cpa = BOOK.rule("cpa")
    assert (cpa.appeal_respond, cpa.appeal_extension) == (Period(45, "days"), Period(60, "days"))
    assert BOOK.rule("ucpa").appeal_due(RECEIVED) is None
    assert BOOK.rule("ocpa").appeal_due(RECEIVED) == date(2026, 3, 1)


def test_days_left_counts_down_to_zero_then_negative() -> None:
    d = BOOK.deadline("US-CA", "access", RECEIVED)
    assert d.days_left(RECEIVED) == 45
    assert d.days_left(d.due) == 0
    assert d.days_left(date(2026, 3, 3)) == -2


def test_one_extension_before_the_first_deadline_with_a_reason() -> None:
    rule = BOOK.rule("ccpa")
    d = BOOK.deadline("US-CA", "access", RECEIVED)
    longer = d.extend(d.due, rule, reason="many systems to search")
    assert longer.due == date(2026, 4, 15) and longer.received == RECEIVED
    with pytest.raises(Conflict, match="extended already"):
        longer.extend(date(2026, 3, 2), rule, reason="again")
    with pytest.raises(Conflict, match="has passed"):
        d.extend(date(2026, 3, 2), rule, reason="too late")
    with pytest.raises(Conflict, match="needs a reason"):
        d.extend(RECEIVED, rule, reason="  ")
    lgpd = BOOK.deadline("BR", "access", RECEIVED)
    with pytest.raises(Conflict, match="allows no extension"):
        lgpd.extend(RECEIVED, BOOK.rule("lgpd"), reason="complex")


def test_a_company_file_adds_and_overrides_rules(tmp_path: Path) -> None:
    extra = tmp_path / "rules.yaml"
    extra.write_text(
        "default: strict\n"
        "rules:\n"
        "  strict: {name: Company policy, law: internal policy P-7, respond: 20 days}\n"
        "  ccpa: {name: CCPA (shorter), law: policy, jurisdictions: [US-CA], respond: 30 days, extension: 15 days}\n"
        "  nj: {name: NJDPA, law: N.J. Stat. 56:8-166.10, jurisdictions: [US-NJ],\n"
        "       respond: 45 days, extension: 45 days}\n"
    )
    book = load_rules([extra])
    assert book.deadline("US-NJ", "access", RECEIVED).rule == "nj"
    assert book.deadline("US-CA", "access", RECEIVED).due == date(2026, 2, 14)
    assert book.deadline("JP", "access", RECEIVED).due == date(2026, 2, 4)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: {x: {respond: 'soon'}}", "is not a period"),
        ("rules: {x: {name: X}}", "`respond` is required"),
        ("rules: {x: {respond: 3 days, colour: red}}", "unknown key"),
        ("rules: {x: {respond: 3 days, by_type: {refund: {respond: 1 day}}}}", "is not a request type"),
        ("rules: {x: {respond: 3 days, jurisdictions: [FR]}}", "claimed by both"),
        ("default: nowhere\nrules: {}", "default rule 'nowhere'"),
        ("rules: [1, 2", "not valid YAML"),
    ],
)
def test_a_bad_company_file_says_where_and_what(tmp_path: Path, text: str, message: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(RulesError, match=message) as info:
        load_rules([bad])
    assert str(bad) in str(info.value)


def test_a_missing_company_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="DSAR_REQUESTS__RULES"):
        load_rules([tmp_path / "absent.yaml"])


def test_an_unquoted_norway_is_caught(tmp_path: Path) -> None:
    bad = tmp_path / "no.yaml"
    bad.write_text("rules: {nordic: {respond: 30 days, jurisdictions: [SE, NO]}}")
    with pytest.raises(RulesError, match="quote it"):
        load_rules([bad])
