"""The product, its tests, benchmarks and scripts read nothing outside the repository (a fresh clone is enough)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# A path out of the checkout into the reference folder beside it, however it is spelt.
OUTSIDE = re.compile(r"""["'/]\.\./shared\b|["']shared["']\s*/|/\s*["']shared["']|api-docs["']|DSAR_API_DOCS""")


def test_no_code_reads_the_reference_folder_beside_the_checkout() -> None:
    offenders = []
    for top in ("src", "tests", "bench", "scripts"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if path == Path(__file__).resolve():
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if OUTSIDE.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_the_pattern_finds_what_it_looks_for() -> None:
    for line in ('ROOT.parent / "shared" / "api-docs"', 'Path("../shared/spec")', 'os.environ["DSAR_API_DOCS"]'):
        assert OUTSIDE.search(line), line
    assert not OUTSIDE.search("a database on the machine's shared server")
