"""Input rules of the privacy operations, as JSON-pointer issues the API faces can word their own way."""

from __future__ import annotations

import re

# The rule of the Buy with Prime API, verbatim from its validation message.
EMAIL_PATTERN = "^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+[.][a-zA-Z]{2,}$"
_EMAIL = re.compile(EMAIL_PATTERN)
EMAIL_MAX = 254
TOKEN_MIN, TOKEN_MAX = 36, 64


def email_issues(email: str, pointer: str) -> list[str]:
    if len(email) > EMAIL_MAX:
        return [f"{pointer} may only be {EMAIL_MAX} characters long"]
    if not _EMAIL.fullmatch(email):
        return [f'{pointer} must match "{EMAIL_PATTERN}"']
    return []


def client_token_issues(token: str, pointer: str) -> list[str]:
    if len(token) < TOKEN_MIN:
        return [f"{pointer} must be at least {TOKEN_MIN} characters long"]
    if len(token) > TOKEN_MAX:
        return [f"{pointer} may only be {TOKEN_MAX} characters long"]
    return []


def int_range_issues(value: int, pointer: str, low: int, high: int) -> list[str]:
    if value > high:
        return [f"{pointer} must be less than or equal to {high}"]
    if value < low:
        return [f"{pointer} must be greater than or equal to {low}"]
    return []
