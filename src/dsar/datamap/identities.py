"""Identity kinds of the data map: e-mail (internationalised too), phone and customer id.

Two uses with different strictness:
- `parse_identity(kind, value)`: what a way in (a face, the case layer) calls with what a person typed. It
  validates (RFC 6531 e-mail through `email-validator`, a phone through `phonenumbers`) and returns the
  normalised form, or raises `InvalidIdentity` (its message never repeats the value).
- `lookup_values(kind, value)`: what the engine matches. Lenient, since values also come from the sources
  themselves (a phone found in the shop is looked up in the CRM): the normalised forms of one value, or none
  when the value cannot be one of that kind.

Normal forms: an e-mail is trimmed, Unicode NFC and lower-cased (SQL's `lower(trim(column))` is what the
`lower_trim` match compares with); an internationalised domain is looked up in both its Unicode and its
ASCII (IDNA) form, since mail systems store either. A phone is E.164 (`+4930123456`). A customer id is
trimmed and otherwise kept as it is (ids are case-sensitive).
"""

from __future__ import annotations

import unicodedata
from typing import Literal, get_args

from dsar.errors import InvalidInput

Kind = Literal["email", "phone", "customer_id"]
KINDS: tuple[str, ...] = get_args(Kind)
MAX_LENGTH = 320  # the longest e-mail address; phones and ids are shorter


class InvalidIdentity(InvalidInput):
    """A typed identity that is not one of its kind (the message says which kind, never the value)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="INVALID_IDENTITY")


def normalize_email(value: str) -> str:
    """Trimmed, NFC, lower-cased: the form `lower(trim(column))` is compared with."""
    return unicodedata.normalize("NFC", value.strip()).lower()


def _other_domain_form(address: str) -> str | None:
    """The same address with its domain in the other form (Unicode <-> IDNA ASCII), if it has one."""
    local, at, domain = address.rpartition("@")
    if not at or not domain:
        return None
    try:
        if domain.isascii():
            if "xn--" not in domain:
                return None
            other = domain.encode("ascii").decode("idna")
        else:
            other = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    other = other.lower()
    return f"{local}@{other}" if other != domain else None


def normalize_phone(value: str, region: str | None = None) -> str | None:
    """E.164, or None when `value` is no possible phone number (without a `+`, `region` gives the country)."""
    import phonenumbers  # loaded when a phone is used

    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def lookup_values(kind: str, value: object) -> list[str]:
    """The normalised forms of one value to look up (none when it cannot be of that kind)."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        return []
    text = str(value).strip()
    if not text or len(text) > MAX_LENGTH:
        return []
    if kind == "email":
        address = normalize_email(text)
        other = _other_domain_form(address)
        return [address, other] if other else [address]
    if kind == "phone":
        phone = normalize_phone(text)
        return [phone] if phone else []
    return [text]


def parse_identity(kind: str, value: str, *, phone_region: str | None = None) -> str:
    """A typed identity checked and normalised; `InvalidIdentity` says what is wrong with it."""
    if kind not in KINDS:
        raise InvalidIdentity(f"Unknown identity kind {kind!r}: use one of {', '.join(KINDS)}.")
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > MAX_LENGTH:
        raise InvalidIdentity(f"The {kind.replace('_', ' ')} is empty or longer than {MAX_LENGTH} characters.")
    if kind == "email":
        from email_validator import EmailNotValidError, validate_email

        try:
            result = validate_email(text, check_deliverability=False, allow_smtputf8=True, test_environment=True)
        except EmailNotValidError:
            raise InvalidIdentity("The e-mail address is not valid (RFC 5321/6531).") from None
        return normalize_email(str(result.normalized))
    if kind == "phone":
        import phonenumbers

        phone = normalize_phone(text, phone_region)
        if phone is None or not phonenumbers.is_valid_number(phonenumbers.parse(phone)):
            raise InvalidIdentity("The phone number is not valid; write it with its country code (+44 20 7946 0000).")
        return phone
    if any(unicodedata.category(ch).startswith("C") for ch in text):
        raise InvalidIdentity("The customer id holds control characters.")
    return text
