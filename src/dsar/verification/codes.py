"""E-mailed one-time codes: six digits, kept only as a keyed hash, valid for minutes, a few wrong tries, and a
budget of e-mails per address per hour. Shared by every purpose of the privacy center (submit, status, an
agent's principal confirming)."""

from __future__ import annotations

import re
import secrets

from dsar.kit.signing import keyed_hash

CODE_DIGITS = 6
_SPACES = re.compile(r"[\s-]+")


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def code_hash(key: bytes, challenge_id: str, code: str) -> str:
    return keyed_hash(key, f"verification-code\n{challenge_id}\n{code}", 64)


def matches(key: bytes, challenge_id: str, stored: str | None, given: str) -> bool:
    given = _SPACES.sub("", given or "")
    candidate = code_hash(key, challenge_id, given if given.isdigit() and len(given) <= 12 else "x")
    return stored is not None and secrets.compare_digest(stored, candidate)
