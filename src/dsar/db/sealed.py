"""Personal data in dsar's own state, encrypted column by column: `SealedText`, an AES-256-GCM TypeDecorator.

A column of this type (subjects' e-mails; `SealedJSON` for a JSON value such as a task's other identities)
is written as `dsar-sealed:v1:<base64url(nonce, ciphertext, tag)>`
when the engine has a field key (`use_field_key`, set by the composition root when encryption at rest is
on), and read back transparently. The column's name is the associated data, so a value copied into another
column does not open. Lookups never use these columns: they go through the keyed hash beside them
(`subject_ref`). A value without the prefix (a row written before encryption was on) reads as it is.
The key lives on the engine's dialect, so two engines of one process (tests) never share it.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine, Text, TypeDecorator, select, type_coerce, update
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import InstrumentedAttribute, Session

from dsar.errors import DsarError

PREFIX = "dsar-sealed:v1:"
_ATTRIBUTE = "dsar_field_key"


class SealedFieldError(DsarError):
    """A sealed value of the state database does not open: no key, another key, or a changed value."""

    code = "STATE_FIELD_UNREADABLE"


FieldKey = bytes | Callable[[], bytes]


def use_field_key(engine: Engine, key: FieldKey | None) -> None:
    """Seal the `SealedText` columns written through `engine` with `key` (32 bytes, or a function that returns
    them when a sealed value is first written or read: the master key may not exist before); None: clear."""
    if isinstance(key, bytes):
        _checked(key)
    setattr(engine.dialect, _ATTRIBUTE, key)


def _checked(key: bytes) -> bytes:
    if len(key) != 32:
        raise ValueError("the field key must be 32 bytes")
    return key


def _key(dialect: Dialect) -> bytes | None:
    key: FieldKey | None = getattr(dialect, _ATTRIBUTE, None)
    if key is None or isinstance(key, bytes):
        return key
    derived = _checked(key())  # the same bytes on every call: a race only derives them twice
    setattr(dialect, _ATTRIBUTE, derived)
    return derived


class SealedText(TypeDecorator[str]):
    """Text sealed with the engine's field key, bound to the column `purpose` names ("table.column")."""

    impl = Text
    cache_ok = True

    def __init__(self, purpose: str) -> None:
        super().__init__()
        self.purpose = purpose

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        key = _key(dialect)
        if value is None or key is None:
            return value
        nonce = os.urandom(12)
        sealed = AESGCM(key).encrypt(nonce, value.encode("utf-8"), self.purpose.encode("utf-8"))
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None or not value.startswith(PREFIX):
            return value
        key = _key(dialect)
        if key is None:
            raise SealedFieldError("A sealed field of the state database cannot be read: encryption at rest is off.")
        try:
            raw = base64.urlsafe_b64decode(value[len(PREFIX) :])
            return AESGCM(key).decrypt(raw[:12], raw[12:], self.purpose.encode("utf-8")).decode("utf-8")
        except (InvalidTag, ValueError, binascii.Error):
            raise SealedFieldError("A sealed field of the state database does not open under this key.") from None


class SealedJSON(TypeDecorator[Any]):
    """A JSON value stored as text and sealed like `SealedText` (the JSON is what is encrypted); a clear value
    (a row written before encryption was on, or by the JSON column this type replaced) reads as JSON."""

    impl = Text
    cache_ok = True

    def __init__(self, purpose: str) -> None:
        super().__init__()
        self.purpose = purpose
        self._text = SealedText(purpose)

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return self._text.process_bind_param(json.dumps(value, separators=(",", ":"), sort_keys=True), dialect)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):  # a driver that still decodes the former JSON column itself
            return value
        return json.loads(self._text.process_result_value(value, dialect) or "null")


def seal_clear(
    s: Session, column: InstrumentedAttribute[Any], key: InstrumentedAttribute[Any], limit: int = 1000
) -> int:
    """Seal up to `limit` values of `column` still stored in clear (written before encryption was on); the
    owner package calls it with its model's columns (`dsar keys rotate`). Returns how many it sealed."""
    if _key(s.get_bind().dialect) is None:
        return 0
    raw = type_coerce(column, Text)  # compare the stored text, not a sealed literal
    rows = s.execute(select(key, column).where(column.is_not(None), ~raw.startswith(PREFIX)).limit(limit)).all()
    for row_key, value in rows:
        s.execute(update(column.class_).where(key == row_key).values({column.key: value}))
    return len(rows)


__all__ = ["PREFIX", "FieldKey", "SealedFieldError", "SealedJSON", "SealedText", "seal_clear", "use_field_key"]
