"""The request/response examples of the API documents in ../shared/api-docs, parsed for replay."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def docs_dir() -> Path:
    env = os.environ.get("DSAR_API_DOCS")
    path = Path(env) if env else ROOT.parent / "shared" / "api-docs"
    if not path.is_dir():
        pytest.fail(f"the API documents are not at {path}; set DSAR_API_DOCS to the api-docs folder")
    return path


@dataclass(frozen=True)
class Example:
    doc: str
    title: str
    request: str
    response: Any


def examples(prefix: str) -> list[Example]:
    """Every Request/Response pair of the document whose file name starts with `prefix`."""
    [path] = sorted(docs_dir().glob(f"{prefix}_*.txt"))
    lines = [line.rstrip() for line in path.read_text(encoding="utf-8").splitlines()]
    out: list[Example] = []
    i = 0
    while i < len(lines):
        if lines[i].strip() != "Request":
            i += 1
            continue
        title = next(t for t in reversed(lines[:i]) if t.strip())
        j = i + 1
        while lines[j].strip() != "Response":
            j += 1
        request = "\n".join(lines[i + 1 : j]).strip()
        k = j + 1
        while not lines[k].strip().startswith("{"):
            k += 1
        depth, buf = 0, []
        while True:
            buf.append(lines[k])
            depth += lines[k].count("{") - lines[k].count("}")
            k += 1
            if depth == 0:
                break
        out.append(Example(path.name, title.strip(), request, json.loads("\n".join(buf))))
        i = k
    return out
