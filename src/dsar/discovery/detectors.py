"""Which personal data a column holds, from its name, its type and a sample of its values.

Values are checked by pattern and checksum validators from maintained libraries (`email-validator`,
`phonenumbers`, `python-stdnum` for Luhn, IBAN and national ids, the standard `ipaddress`), names by a
small table of hints. Nothing is downloaded at run time; no statistical model is used. Categories are
Fides taxonomy keys (`user.contact.email`, ...), the ones the data map's `fields` already use.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from stdnum import iban, luhn
from stdnum.es import dni
from stdnum.it import codicefiscale
from stdnum.us import ssn

EMAIL = "user.contact.email"
PHONE = "user.contact.phone_number"
NAME = "user.name"
ADDRESS = "user.contact.address"
DOB = "user.demographic.date_of_birth"
IP = "user.device.ip_address"
CARD = "user.financial.credit_card"
IBAN = "user.financial.bank_account"
NATIONAL_ID = "user.government_id.national_identification_number"
FREE_TEXT = "user.content.private"
UNIQUE_ID = "user.unique_id"
CREDENTIALS = "user.authorization.credentials"
BEHAVIOR = "user.behavior"

# A column is said to hold a kind of value when at least this share of its sampled non-empty values do.
VALUE_SHARE = 0.6


@dataclass(frozen=True, slots=True)
class Finding:
    """One category a column seems to hold: how sure (0..1) and why (no values quoted)."""

    category: str
    confidence: float
    evidence: str

    @property
    def certain(self) -> bool:
        return self.confidence >= 0.8


# --- names -----------------------------------------------------------------------------------------------

_PERSON_TABLES = re.compile(
    r"(customer|client|user|member|person|people|employee|staff|contact|patient|account|subscriber|author|"
    r"applicant|student|guest|visitor|profile|lead|requester|buyer|seller|owner|driver|rider|passenger|actor)",
    re.IGNORECASE,
)
_ADDRESS_TABLES = re.compile(r"address", re.IGNORECASE)

# (pattern on the column name, category, needs a personal table or other personal columns beside it)
_NAME_HINTS: list[tuple[re.Pattern[str], str, bool]] = [
    (re.compile(r"e_?mail|mail_?addr"), EMAIL, False),
    (re.compile(r"phone|mobile|cell_?no|telephone|^tel$|_tel$|fax"), PHONE, False),
    (
        re.compile(r"first_?name|last_?name|given_?name|family_?name|surname|full_?name|middle_?name|maiden"),
        NAME,
        False,
    ),
    (re.compile(r"^(contact_?|customer_?|user_?|display_?|person_?)?name$|^nick_?name$"), NAME, True),
    (re.compile(r"_(first|last)$"), NAME, True),  # contact_first, contact_last
    (re.compile(r"birth|^dob$|_dob$|born"), DOB, False),
    (
        re.compile(r"ssn|social_?sec|national_?id|passport|tax_?id|nino|\bbsn\b|^bsn$|driver_?lic|licen[cs]e_?no"),
        NATIONAL_ID,
        False,
    ),
    (re.compile(r"iban|bank_?account|account_?number"), IBAN, False),
    (re.compile(r"card_?(no|num)|ccn|credit_?card|^pan$|card_?last"), CARD, False),
    (re.compile(r"(^|_)ip(_?addr(ess)?)?$|ip_?address|remote_?addr"), IP, False),
    (
        re.compile(
            r"address|street|^house|city|town|zip|postal|post_?code|^state$|province|country|region$"
            r"|billing_?(addr|city|state|country|postal)|shipping_?(addr|city|state|country|postal)"
        ),
        ADDRESS,
        True,
    ),
    (re.compile(r"password|passwd|pwd|secret|token|api_?key|hash$"), CREDENTIALS, False),
    (re.compile(r"gender|^sex$"), "user.demographic.gender", True),
    (re.compile(r"^(user_?name|login|handle)$"), "user.account.username", False),
]
_ADDRESS_PARTS = [
    (re.compile(r"city|town"), "city"),
    (re.compile(r"zip|postal|post_?code"), "postal_code"),
    (re.compile(r"country"), "country"),
    (re.compile(r"state|province|region"), "state"),
    (re.compile(r"street|house|address|addr"), "street"),
]
_FREE_TEXT_NAMES = re.compile(r"comment|note|body|message|text|remark|description|bio|about|content|subject")
_APOSTROPHES = "'\u2019"
_PERSON_NAME_VALUE = re.compile(
    rf"^[^\W\d_][^\W\d_{_APOSTROPHES}.\-]*(?:[ {_APOSTROPHES}.\-]+[^\W\d_][^\W\d_{_APOSTROPHES}.\-]*){{0,3}}\.?$"
)


_CARD_TABLES = re.compile(r"card|payment", re.IGNORECASE)
_CARD_CODE = re.compile(r"^(cvv2?|cvc2?|csc|security_?code|card_?code|code)$")


def name_hint(column: str, table: str, personal_table: bool) -> Finding | None:
    """The category a column's name suggests; `personal_table`: the table holds other personal data or is
    named like one (customers, users, ...), which makes `name`, `city` and the like personal."""
    low = column.lower()
    if _KEY_NAME.search(column) and not (_NAME_HINTS[0][0].search(low) or _NAME_HINTS[1][0].search(low)):
        return None  # a key (shipping_address_id): a reference, not the data it names
    if _CARD_CODE.match(low) and (_CARD_TABLES.search(table) or low != "code"):
        return Finding(CARD, 0.6, f"column name '{column}' (a card's security code)")
    personal = personal_table or bool(_PERSON_TABLES.search(table)) or bool(_ADDRESS_TABLES.search(table))
    for pattern, category, needs_person in _NAME_HINTS:
        if m := pattern.search(low):
            if needs_person and not personal:
                continue
            if category == ADDRESS and not _address_qualified(low[: m.start()]):
                continue  # job_country: the country of something else
            if category == ADDRESS:
                category = address_part(low)
            return Finding(category, 0.6, f"column name '{column}'")
    return None


_ADDRESS_QUALIFIERS = re.compile(
    r"^(bill(ing)?|ship(ping)?|delivery|home|mail(ing)?|postal|residen(ce|tial)|permanent|current|contact|customer|"
    r"client|user|member|person(al)?|birth|primary|secondary|alt(ernate)?|other|work|private|invoice)$"
)


def _address_qualified(before: str) -> bool:
    """What stands before an address word in a column name (`billing_` in `billing_city`) says whose address it
    is; another word (`job_` in `job_country`) says it is not one (a job's country)."""
    if not before.endswith("_"):
        return True  # nothing before it, or run together (billingcity): as the name says
    word = before.rstrip("_").rsplit("_", 1)[-1]
    address_words = next(p for p, category, _ in _NAME_HINTS if category == ADDRESS)
    return bool(_ADDRESS_QUALIFIERS.match(word) or address_words.search(word))  # or an address word: state_province


def address_part(column: str) -> str:
    for pattern, part in _ADDRESS_PARTS:
        if pattern.search(column.lower()):
            return f"{ADDRESS}.{part}"
    return ADDRESS


def person_table(table: str) -> bool:
    return bool(_PERSON_TABLES.search(table))


_ACTIVITY_TABLES = re.compile(
    r"log_?ins?$|log_?ons?$|sign_?ins?$|sessions?$|visits?$|activit(y|ies)$|access_?logs?$|audit_?(logs?|trail)$"
    r"|page_?views?$|clicks?$|(login|log_?on|sign_?in|auth|access|session|user|customer|account)_?events?$|(browsing|login|search|watch|purchase)_?histor(y|ies)$|tracking$",
    re.IGNORECASE,
)


def activity_table(table: str) -> bool:
    """A log of what someone did (logins, sessions, visits, page views): when its rows are about a person, the
    times it records are that person's behaviour."""
    return bool(_ACTIVITY_TABLES.search(table))


def activity_time(table: str, column: str) -> Finding:
    return Finding(
        BEHAVIOR, 0.7, f"a time in '{table}', a log of a person's activity (its rows are about a person): '{column}'"
    )


# --- values ----------------------------------------------------------------------------------------------

_EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_EMAIL_IN_TEXT = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE_SHAPE = re.compile(r"^\+?[\d\s().\-/]{6,24}(?:\s*(?:x|ext\.?)\s*\d{1,5})?$", re.IGNORECASE)
_DIGITS = re.compile(r"\D")
_CARD_PREFIX = re.compile(r"^(4|5[1-5]|2[2-7]|3[47]|6[05]|35)")
_SSN_SHAPE = re.compile(r"^\d{3}-\d{2}-\d{4}$")
_IBAN_SHAPE = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9 ]{10,32}$")
_PHONE_RUN = re.compile(r"\d(?:[\s().\-/]{0,3}\d){6,}")  # 7+ digits close together: worth asking the matcher
_DATE_LIKE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/.]\d{1,2}[/.]\d{2,4}")
_KEY_NAME = re.compile(r"(_id|_no|_key|_fk)$|^id_|[a-z]Id$|^id$")
_IP_SHAPE = re.compile(r"^[0-9a-fA-F:.]{3,45}(/\d{1,3})?$")


def is_email(v: str) -> bool:
    if not _EMAIL_SHAPE.match(v.strip()):
        return False
    try:
        validate_email(v.strip(), check_deliverability=False, test_environment=True)
    except EmailNotValidError:
        return False
    return True


def is_phone(v: str) -> bool:
    s = v.strip()
    if not _PHONE_SHAPE.match(s):
        return False
    digits = _DIGITS.sub("", s.split("x")[0])
    if not 7 <= len(digits) <= 15:
        return False
    if not s.startswith("+") and not any(c in s for c in " ()-./"):
        return False  # a bare run of digits is more often an id or an amount than a phone number
    try:
        number = phonenumbers.parse(s, None if s.startswith("+") else "US")
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_possible_number(number))


def phone_shaped(v: str) -> bool:
    """Digits in groups as phone numbers are written (7 to 15 digits, with separators), the country unknown."""
    s = v.strip()
    digits = _DIGITS.sub("", s)
    return bool(_PHONE_SHAPE.match(s)) and 6 <= len(digits) <= 15 and any(c in s for c in " ()-./")


def is_card(v: str) -> bool:
    digits = v.replace(" ", "").replace("-", "")
    return digits.isdigit() and 13 <= len(digits) <= 19 and bool(_CARD_PREFIX.match(digits)) and luhn.is_valid(digits)


def is_iban(v: str) -> bool:
    s = v.strip().upper()
    return bool(_IBAN_SHAPE.match(s)) and iban.is_valid(s)


def is_national_id(v: str) -> bool:
    s = v.strip().upper()
    if _SSN_SHAPE.match(s):
        return ssn.is_valid(s)
    if len(s) == 9 and s[:8].isdigit() and s[8].isalpha():
        return dni.is_valid(s)
    if len(s) == 16 and s[:6].isalpha():
        return codicefiscale.is_valid(s)
    return False


def is_ip(v: str) -> bool:
    s = v.strip()
    if not _IP_SHAPE.match(s) or ("." not in s and ":" not in s):
        return False
    try:
        ipaddress.ip_interface(s) if "/" in s else ipaddress.ip_address(s)
    except ValueError:
        return False
    return True


def is_person_name(v: str) -> bool:
    return 2 <= len(v) <= 60 and bool(_PERSON_NAME_VALUE.match(v.strip()))


def pd_in_text(v: str) -> str | None:
    """The kind of personal data free text holds (an e-mail address or a phone number in it), if any."""
    for m in _EMAIL_IN_TEXT.finditer(v):
        if is_email(m.group(0)):
            return "an e-mail address"
    if len(v) <= 2000 and _PHONE_RUN.search(v):
        for found in phonenumbers.PhoneNumberMatcher(v, "US", leniency=phonenumbers.Leniency.VALID):
            raw, start = found.raw_string, int(found.start)
            before = v[start - 1] if start > 0 else " "
            if _DATE_LIKE.search(raw) or before in "/=:._-" or before.isalnum():
                continue  # a date, a version or part of a token, not a number to call
            if raw.startswith(("+", "(")) or ((" " in raw or "-" in raw) and "." not in raw):
                return "a phone number"
    return None


_VALUE_CHECKS: list[tuple[str, Any, float]] = [  # (category, check, confidence when most values pass)
    (EMAIL, is_email, 0.95),
    (CARD, is_card, 0.9),
    (IBAN, is_iban, 0.95),
    (NATIONAL_ID, is_national_id, 0.85),
    (IP, is_ip, 0.9),
    (PHONE, is_phone, 0.85),
]


def _texts(values: Sequence[Any]) -> list[str]:
    out = []
    for v in values:
        if v is None or isinstance(v, _NOT_TEXT):
            continue
        s = v.strip() if isinstance(v, str) else str(v)
        if s:
            out.append(s)
    return out


_NOT_TEXT = (bool, bytes, bytearray, memoryview)


def classify(
    column: str,
    table: str,
    values: Sequence[Any],
    *,
    text: bool,
    temporal: bool,
    personal_table: bool,
) -> list[Finding]:
    """What a column holds, best first. `text`: a string type; `temporal`: a date or time type."""
    found: dict[str, Finding] = {}
    hint = name_hint(column, table, personal_table)
    texts = _texts(values)
    n = len(texts)
    if n:
        for category, check, conf in _VALUE_CHECKS:
            if category == CARD and not (text or column_digits(texts)):
                continue
            if category == PHONE and not text:
                continue  # a number stored as a number (a salary, an amount) is no phone number
            head = texts[:20]
            if sum(1 for s in head if check(s)) < len(head) * (VALUE_SHARE - 0.3):
                continue  # the first values say no: the rest need not be checked
            hits = sum(1 for s in texts if check(s))
            if hits and hits / n >= VALUE_SHARE:
                found[category] = Finding(category, conf, f"{hits} of {n} sampled values pass the {category} check")
                break
    if hint is not None:
        hinted = found.get(hint.category)
        if hinted is not None:
            found[hint.category] = Finding(hint.category, 0.99, f"{hint.evidence}; {hinted.evidence}")
        elif hint.category == DOB and (temporal or _dates(texts)):
            found[DOB] = Finding(DOB, 0.9, f"{hint.evidence}, a date")
        elif hint.category == NAME and n >= 3 and len(set(texts)) == 1 and not _NAME_HINTS[2][0].search(column.lower()):
            # a bare `name` holding one value in every sampled row: a label ("Monthly Report"), not people's names
            found[NAME] = Finding(NAME, 0.5, f"{hint.evidence}, but all {n} sampled values are the same")
        elif hint.category == NAME and n and sum(map(is_person_name, texts)) / n >= VALUE_SHARE:
            found[NAME] = Finding(NAME, 0.9, f"{hint.evidence}; sampled values look like names")
        elif not found:
            conf = 0.75 if (n or not text) else 0.6
            if hint.category == PHONE and text and sum(map(phone_shaped, texts)) / n >= VALUE_SHARE:
                # national formats without a country code ('61 211 99 88'): no matcher can confirm them
                conf = 0.75
            elif hint.category in (PHONE, EMAIL, IP) and n:
                conf = 0.5  # the name says so but the values do not
            elif hint.category in (CARD, IBAN, NATIONAL_ID) and n:
                conf = 0.6  # the values fail the checksum, but so do test data and masked numbers: for review
            found[hint.category] = Finding(hint.category, conf, hint.evidence)
    if not found and text and n:
        kinds = [k for k in map(pd_in_text, texts) if k]
        long_text = sum(len(s) for s in texts) / n > 25 or bool(_FREE_TEXT_NAMES.search(column.lower()))
        if kinds and long_text:
            conf = 0.9 if len(kinds) / n >= 0.2 else 0.6
            found[FREE_TEXT] = Finding(
                FREE_TEXT, conf, f"free text: {len(kinds)} of {n} sampled values hold {kinds[0]} or similar"
            )
        elif long_text and personal_table and _FREE_TEXT_NAMES.search(column.lower()):
            found[FREE_TEXT] = Finding(FREE_TEXT, 0.5, f"free text ('{column}') in a table with personal data")
    return sorted(found.values(), key=lambda f: -f.confidence)


def column_digits(texts: list[str]) -> bool:
    return all(s.replace(" ", "").replace("-", "").isdigit() for s in texts[:20])


def _dates(texts: list[str]) -> bool:
    ok = 0
    for s in texts[:50]:
        try:
            date.fromisoformat(s[:10])
            ok += 1
        except ValueError:
            continue
    return bool(texts) and ok / min(len(texts), 50) >= VALUE_SHARE


def _iso_date(v: Any) -> date | None:
    if not isinstance(v, str):
        return None
    try:
        return date.fromisoformat(v.strip()[:10])
    except ValueError:
        return None


def plausible_birth_dates(values: Sequence[Any]) -> bool:
    """Dates between 1900 and 10 years ago: what a date of birth column holds."""
    today = date.today()
    seen = 0
    for v in values:
        d = v.date() if isinstance(v, datetime) else v if isinstance(v, date) else _iso_date(v)
        if d is None:
            continue
        seen += 1
        if not (date(1900, 1, 1) <= d <= today.replace(year=today.year - 10)):
            return False
    return seen > 0


def family(category: str) -> str:
    """The part of a category that must agree for `coverage` (user.contact.address.city -> user.contact.address)."""
    for root in (ADDRESS, NAME, EMAIL, PHONE, DOB, IP, CARD, IBAN, "user.government_id", CREDENTIALS):
        if category == root or category.startswith(root + "."):
            return root
    return category
