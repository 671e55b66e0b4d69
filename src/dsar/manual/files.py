"""What a respondent may upload: CSV (UTF-8, a header row) or JSON (an object or a list of objects), size-limited.

Every file of an answer is checked before any is kept, so a bad upload changes nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass

import orjson

from dsar.errors import InvalidInput

_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Upload:
    name: str  # as the respondent's browser (or the operator's file) named it
    data: bytes


@dataclass(frozen=True)
class CheckedFile:
    name: str  # safe: [A-Za-z0-9._-], ends .csv or .json
    data: bytes
    rows: int
    sha256: str


def safe_name(name: str) -> str:
    """The file's base name with anything but letters, digits, `.`, `_` and `-` replaced by `_`."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    cleaned = _NAME.sub("_", base).lstrip(".")[:100]
    return cleaned or "upload"


def _rows_of_json(data: bytes) -> int:
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise InvalidInput("A JSON file does not parse.", code="BAD_FILE") from None
    if isinstance(doc, dict):
        return 1
    if isinstance(doc, list) and all(isinstance(r, dict) for r in doc):
        return len(doc)
    raise InvalidInput("A JSON file must hold an object or a list of objects.", code="BAD_FILE")


def _rows_of_csv(data: bytes) -> int:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("A CSV file is not UTF-8 text.", code="BAD_FILE") from None
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error:
        raise InvalidInput("A CSV file does not parse.", code="BAD_FILE") from None
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise InvalidInput("A CSV file needs a header row.", code="BAD_FILE")
    width = len(rows[0])
    body = [r for r in rows[1:] if r]
    if any(len(r) != width for r in body):
        raise InvalidInput("Every row of a CSV file needs as many cells as its header.", code="BAD_FILE")
    return len(body)


def check_files(uploads: list[Upload], *, max_bytes: int, max_files: int) -> list[CheckedFile]:
    """The uploads, checked (all of them, before anything is kept); `InvalidInput` names what is wrong, never
    the content."""
    if len(uploads) > max_files:
        raise InvalidInput(f"At most {max_files} files per answer.", code="TOO_MANY_FILES")
    out: list[CheckedFile] = []
    seen: set[str] = set()
    for up in uploads:
        name = safe_name(up.name)
        lower = name.lower()
        if not lower.endswith((".csv", ".json")):
            raise InvalidInput("Upload CSV (.csv) or JSON (.json) files.", code="BAD_FILE_TYPE")
        if not up.data:
            raise InvalidInput("A file is empty.", code="BAD_FILE")
        if len(up.data) > max_bytes:
            raise InvalidInput(f"A file is larger than {max_bytes} bytes.", code="TOO_LARGE")
        while name in seen:
            name = "_" + name
        seen.add(name)
        rows = _rows_of_json(up.data) if lower.endswith(".json") else _rows_of_csv(up.data)
        out.append(CheckedFile(name, up.data, rows, hashlib.sha256(up.data).hexdigest()))
    return out
