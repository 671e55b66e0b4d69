"""`python -m bench --quick`: the benchmarks' smoke run (issue "Benchmarks and speed"). It asserts nothing about
time: every scenario ran to its end, printed its figures, and its tasks all completed without errors."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import need

ROOT = Path(__file__).resolve().parents[2]
FIGURE = re.compile(r"^\| (B\d) (.*?) \| ([0-9][0-9,.]*) ", re.MULTILINE)


@pytest.mark.slow
@pytest.mark.postgres
def test_the_benchmarks_smoke_run_measures_every_scenario() -> None:
    need("postgres")
    if shutil.which("wrk") is None and os.environ.get("DSAR_TEST_SERVICES") == "require":
        pytest.fail("wrk is required for B6 (DSAR_TEST_SERVICES=require): apt-get install wrk")
    # The generated shops and the servers' files go into a folder of the test's own, removed afterwards; the
    # benchmark's private PostgreSQL server runs as `postgres`, which must be able to enter it.
    work = Path(tempfile.mkdtemp(prefix="dsar-bench-smoke-"))
    work.chmod(0o755)
    try:
        out = subprocess.run(
            [sys.executable, "-m", "bench", "--quick"],
            cwd=ROOT,
            env={**os.environ, "TMPDIR": str(work)},
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert out.returncode == 0, out.stderr[-4000:]
    figures = FIGURE.findall(out.stdout)
    scenarios = {name for name, _, _ in figures}
    expected = {"B0", "B1", "B2", "B3", "B4", "B5", "B7"} | ({"B6"} if shutil.which("wrk") else set())
    assert expected <= scenarios, out.stdout
    rates = [float(v.replace(",", "")) for _, label, v in figures if "throughput" in label or "download" in label]
    assert len(rates) >= 5 and all(r > 0 for r in rates), out.stdout  # B0, B2 x 3, B6, B7 measured something
    # B2: every task of the embedded (1 and 2 processes) and distributed runs completed
    done = re.findall(r"^\| B2 tasks COMPLETED / FAILED over all runs \| ([0-9,]+) / ([0-9,]+) \|", out.stdout, re.M)
    assert [(c, f) for c, f in done] == [("50", "0")] * 3, out.stdout
    if shutil.which("wrk"):
        assert re.search(r"^\| B6 errors .* of [0-9,]+ answers \| 0 \|", out.stdout, re.M), out.stdout
