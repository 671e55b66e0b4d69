"""The requests and JSON samples of the Data Portability document (002), kept as the suite's own fixtures.

`tests/portability/fixtures/002-data-portability/`: `requests.json` holds the document's curl requests
(method, path with its `$SCOPE_ID`/`$QUERY_ID` placeholders and without `$API_ENDPOINT`, query parameters);
`samples.json` holds its JSON samples in the document's order, each with the heading line above it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "002-data-portability"


@dataclass(frozen=True)
class Curl:
    method: str
    path: str  # with $SCOPE_ID / $QUERY_ID placeholders, without $API_ENDPOINT
    params: dict[str, str]


@dataclass(frozen=True)
class Sample:
    title: str
    body: Any


def _load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def curls() -> list[Curl]:
    return [Curl(c["method"], c["path"], dict(c["params"])) for c in _load("requests.json")]


def samples() -> list[Sample]:
    """Every JSON sample with the heading line above it."""
    return [Sample(s["title"], s["body"]) for s in _load("samples.json")]
