"""Where a person may say they live, for the privacy center's form: every country, named in their language,
and the US states that have a rule of their own (docs/requests.md)."""

from __future__ import annotations

from babel import Locale, UnknownLocaleError

from dsar.requests.rules import RuleBook

US_STATES = {
    "US-CA": "California",
    "US-CO": "Colorado",
    "US-CT": "Connecticut",
    "US-OR": "Oregon",
    "US-TX": "Texas",
    "US-UT": "Utah",
    "US-VA": "Virginia",
}


def places(rules: RuleBook, language: str) -> list[tuple[str, str]]:
    """Where a person may say they live: every country (named in their language) and the US states that have
    a rule of their own; (code, name), sorted by name. A place without a rule gets the default rule."""
    try:
        names = Locale.parse(language).territories
    except (UnknownLocaleError, ValueError, TypeError):
        names = Locale.parse("en").territories
    countries = [(code, str(name)) for code, name in names.items() if len(code) == 2 and code.isalpha()]
    states = [
        (code, f"{names.get('US', 'US')}: {US_STATES.get(code, code)}")
        for code in sorted({p for r in rules.rules.values() for p in r.jurisdictions})
        if code.startswith("US-")
    ]
    return sorted(countries + states, key=lambda item: item[1])
