"""The curl requests and JSON samples of api-docs 002 (Data Portability), parsed for replay.

tests/api/docs.py reads `Request`/`Response` pairs; 002 has none: it shows curl commands, then JSON
samples under headings ("Sample successful response:", "Completed Data Query:", ...).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from typing import Any

from tests.api.docs import docs_dir


@dataclass(frozen=True)
class Curl:
    method: str
    path: str  # with $SCOPE_ID / $QUERY_ID placeholders, without $API_ENDPOINT
    params: dict[str, str]


@dataclass(frozen=True)
class Sample:
    title: str
    body: Any


def text() -> str:
    [path] = sorted(docs_dir().glob("002_*.txt"))
    return path.read_text(encoding="utf-8")


def curls() -> list[Curl]:
    out = []
    for line in text().splitlines():
        line = line.strip()
        if not line.startswith("curl "):
            continue
        args = shlex.split(line)
        method = args[args.index("--request") + 1]
        url = next(a for a in args if a.startswith("https://"))
        path = url.removeprefix("https://$API_ENDPOINT")
        params = dict(args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "-d")
        out.append(Curl(method, path, params))
    return out


def samples() -> list[Sample]:
    """Every JSON sample with the heading line above it."""
    lines = text().splitlines()
    out: list[Sample] = []
    i = 0
    while i < len(lines):
        if lines[i].strip() != "{":
            i += 1
            continue
        title = next(t for t in reversed(lines[:i]) if t.strip()).strip()
        depth, buf = 0, []
        while True:
            buf.append(lines[i])
            depth += lines[i].count("{") - lines[i].count("}")
            i += 1
            if depth == 0:
                break
        raw = "\n".join(buf)
        raw = re.sub(r'"EXAMPLEw6JRN\.\.\."', '"EXAMPLE"', raw)
        out.append(Sample(title, json.loads(raw)))
    return out
