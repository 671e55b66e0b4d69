"""docs/architecture.md must match the tree: its "Code layout" block names every package and top-level module of
src/dsar, and nothing that is not there; every file of a feature package is named in its line."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "dsar"


def _layout() -> str:
    doc = (ROOT / "docs" / "architecture.md").read_text()
    section = doc.split("## Code layout", 1)[1]
    return section.split("```", 2)[1]


def _entries() -> dict[str, str]:
    """Indented names in the block ("  engine/  text...") mapped to their line, continuation lines appended."""
    entries: dict[str, str] = {}
    last = None
    for line in _layout().splitlines():
        m = re.match(r"^  (\S+)\s", line + " ")
        if m and not line.startswith("   "):
            last = m.group(1)
            entries[last] = line
        elif last is not None and line.strip():
            entries[last] += " " + line.strip()
    return entries


def _packages() -> set[str]:
    return {p.name + "/" for p in SRC.iterdir() if p.is_dir() and not p.name.startswith("__")}


def test_every_package_of_the_tree_is_in_the_layout_and_nothing_else() -> None:
    named = {e for e in _entries() if e.endswith("/")}
    assert named == _packages(), (
        f"docs/architecture.md Code layout: missing {sorted(_packages() - named)}, stale {sorted(named - _packages())}"
    )


def test_every_top_level_module_is_named() -> None:
    text = _layout()
    modules = {p.name for p in SRC.glob("*.py") if p.name != "__init__.py"}
    missing = {m for m in modules if m not in text}
    assert not missing, f"docs/architecture.md Code layout does not name {sorted(missing)}"


def test_the_files_a_package_line_names_exist() -> None:
    """A package line that names files ("models, repository ...") names files that exist in that package."""
    stale = []
    for name, line in _entries().items():
        if not name.endswith("/"):
            continue
        for word in re.findall(r"\b(\w+)\.py\b", line):
            if not list((SRC / name).rglob(f"{word}.py")):
                stale.append(f"{name}{word}.py")
    assert not stale, f"docs/architecture.md names files that are not in the tree: {stale}"


def test_every_module_of_a_package_is_named_in_its_line() -> None:
    """A new module must be placed in the doc: each package's line names all of its direct modules."""
    entries = _entries()
    missing = []
    for pkg in sorted(_packages()):
        if pkg == "migrations/":  # Alembic's env.py and versions/, not a package of ours
            continue
        line = entries.get(pkg, "")
        for module in sorted((SRC / pkg).glob("*.py")):
            if module.stem != "__init__" and not re.search(rf"\b{re.escape(module.stem)}\b", line):
                missing.append(f"{pkg}{module.name}")
    assert not missing, f"docs/architecture.md Code layout does not name {missing}"
