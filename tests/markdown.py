"""The code in the project's Markdown documents, for the tests that run or check what they show."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```(\w*)\s*$")
INLINE = re.compile(r"`([^`\n]+)`")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    heading: str  # the nearest `## ` heading above it
    lang: str
    text: str


def blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file, in order."""
    out: list[Block] = []
    heading, lang, start, buf = "", None, 0, []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fence = FENCE.match(line)
        if lang is None:
            if line.startswith("## "):
                heading = line[3:].strip()
            elif fence:
                lang, start, buf = fence.group(1), n, []
        elif line.strip() == "```":
            out.append(Block(path, start, heading, lang, "\n".join(buf) + "\n"))
            lang = None
        else:
            buf.append(line)
    assert lang is None, f"{path}: the block opened on line {start} is not closed"
    return out


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@dataclass(frozen=True)
class Command:
    where: str  # "docs/x.md:12"
    line: str  # "dsar db upgrade"
    fenced: bool  # in a code block (an example), or an inline code span (a mention in the prose)


def commands(program: str) -> list[Command]:
    """Every `program ...` command line shown in the documents' code: fenced blocks (one per line after
    joining `\\` continuations, comments dropped) and inline code spans."""
    out: list[Command] = []
    for path in documents():
        where = path.relative_to(ROOT)
        fenced: set[int] = set()
        for b in blocks(path):
            fenced.update(range(b.line, b.line + b.text.count("\n") + 2))
            start, joined = 0, ""
            for n, raw in enumerate(b.text.splitlines(), b.line + 1):  # a `\` continuation keeps its first line
                if not joined:
                    start = n
                joined += raw[:-1] + " " if raw.endswith("\\") else raw
                if raw.endswith("\\"):
                    continue
                code, joined = joined.split(" #", 1)[0].strip(), ""
                if code.startswith(program + " "):
                    out.append(Command(f"{where}:{start}", code, fenced=True))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if n in fenced:
                continue
            for span in INLINE.findall(line):
                if span.startswith(program + " "):
                    out.append(Command(f"{where}:{n}", span.strip(), fenced=False))
    return out
