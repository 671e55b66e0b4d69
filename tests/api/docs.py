"""The request/response examples of the API documents, kept as the suite's own fixtures for replay.

`tests/api/fixtures/<NNN>-<operation>/` holds one document's examples: `examples.json` lists them in the
document's order (title, request file, response file); each request is a `.graphql` file and each
response a `.json` file (tests/api/fixtures/README.md says where they come from and what was normalised).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@dataclass(frozen=True)
class Example:
    doc: str
    title: str
    request: str
    response: Any


def examples(prefix: str) -> list[Example]:
    """Every Request/Response pair of the document numbered `prefix` (e.g. "000"), in the document's order."""
    [folder] = sorted(FIXTURES.glob(f"{prefix}-*"))
    out: list[Example] = []
    for entry in json.loads((folder / "examples.json").read_text(encoding="utf-8")):
        request = (folder / entry["request"]).read_text(encoding="utf-8").strip()
        response = json.loads((folder / entry["response"]).read_text(encoding="utf-8"))
        out.append(Example(folder.name, entry["title"], request, response))
    return out
