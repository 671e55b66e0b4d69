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


# CLDR names more than ISO 3166-1 assigns: the exceptionally reserved codes (the European Union, the Eurozone, the
# United Nations, parts of a country that has its own entry: Canary Islands, Ceuta and Melilla, ...), and the
# user-assigned ranges AA, QM-QZ, XA-XZ, ZZ that CLDR fills with pseudo-locales and groups (Pseudo-Accents,
# Outlying Oceania, Unknown Region). Kosovo (XK) is the one user-assigned code kept: a place people live in,
# with no ISO code of its own, named XK by the EU and CLDR alike.
_NOT_A_PLACE = frozenset({"AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "FX", "IC", "TA", "UK", "UN"})
_KEPT = frozenset({"XK"})


def is_country(code: str) -> bool:
    """A real country or territory: an ISO 3166-1 alpha-2 code that is assigned (or Kosovo's XK)."""
    if code in _KEPT:
        return True
    if len(code) != 2 or not code.isalpha() or not code.isupper() or code in _NOT_A_PLACE:
        return False
    return not (code == "AA" or code == "ZZ" or code[0] == "X" or (code[0] == "Q" and code[1] >= "M"))


def places(rules: RuleBook, language: str) -> list[tuple[str, str]]:
    """Where a person may say they live: every country (named in their language) and the US states that have
    a rule of their own; (code, name), sorted by name. A place without a rule gets the default rule."""
    try:
        names = Locale.parse(language).territories
    except (UnknownLocaleError, ValueError, TypeError):
        names = Locale.parse("en").territories
    countries = [(code, str(name)) for code, name in names.items() if is_country(code)]
    states = [
        (code, f"{names.get('US', 'US')}: {US_STATES.get(code, code)}")
        for code in sorted({p for r in rules.rules.values() for p in r.jurisdictions})
        if code.startswith("US-")
    ]
    return sorted(countries + states, key=lambda item: item[1])
