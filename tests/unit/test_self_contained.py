"""The product, its tests, benchmarks and scripts read nothing outside the repository (a fresh clone is enough)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# A path out of the checkout into the reference folder beside it, however it is spelt.
_REF = "sha" + "red"  # the folder's name, assembled so that this file names no path to it
OUTSIDE = re.compile(rf"""["'/]\.\./{_REF}\b|["']{_REF}["']\s*/|/\s*["']{_REF}["']|api-docs["']|DSAR_API_DOCS""")


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
    # The samples are assembled here, so this file itself names no such path.
    ref, docs = _REF, "api-" + "docs"
    samples = (f'ROOT.parent / "{ref}" / "{docs}"', f'Path("../{ref}/spec")', 'os.environ["DSAR_API_' + 'DOCS"]')
    for line in samples:
        assert OUTSIDE.search(line), line
    assert not OUTSIDE.search("a database on the machine's shared server")
