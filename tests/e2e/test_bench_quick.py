"""`python -m bench --quick`: the benchmarks' smoke run (issue "Benchmarks and speed"). It asserts nothing about
time: every scenario ran to its end, printed its figures, and its tasks all completed without errors.

B6 drives the server with `wrk`; without it on PATH the run reports B6 as skipped and its test here skips with
that one-line reason (with DSAR_TEST_SERVICES=require, as `.ci/run` sets, a missing `wrk` is a failure)."""

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
NO_WRK = "B6 not measured: `wrk` is not installed (apt-get install wrk)"

# The run takes about a minute on an idle 2-core machine, several when the machine is busy.
pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(1200)]


@pytest.fixture(scope="module")
def smoke_run() -> str:
    """The output of one `python -m bench --quick`, shared by the tests of this module."""
    need("postgres")
    need("redis")  # B2's distributed run starts a redis-server of its own (tests/cluster.py), as test_cluster does
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
            timeout=1100,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert out.returncode == 0, out.stderr[-4000:]
    return out.stdout


def test_the_benchmarks_smoke_run_measures_every_scenario(smoke_run: str) -> None:
    figures = FIGURE.findall(smoke_run)
    scenarios = {name for name, _, _ in figures}
    assert {"B0", "B1", "B2", "B3", "B4", "B5", "B7"} <= scenarios, smoke_run
    rates = [
        float(v.replace(",", ""))
        for name, label, v in figures
        if name != "B6" and ("throughput" in label or "download" in label)
    ]
    assert len(rates) >= 4 and all(r > 0 for r in rates), smoke_run  # B2 x 3 and B7 measured something
    # B2: every task of the embedded (1 and 2 processes) and distributed runs completed
    done = re.findall(r"^\| B2 tasks COMPLETED / FAILED over all runs \| ([0-9,]+) / ([0-9,]+) \|", smoke_run, re.M)
    assert [(c, f) for c, f in done] == [("50", "0")] * 3, smoke_run


def test_b6_queries_under_load_from_wrk(smoke_run: str) -> None:
    if shutil.which("wrk") is None:
        if os.environ.get("DSAR_TEST_SERVICES") == "require":
            pytest.fail(f"{NO_WRK}; DSAR_TEST_SERVICES=require")
        assert "| B6 skipped: `wrk` is not installed" in smoke_run, smoke_run  # the run says so too
        pytest.skip(NO_WRK)
    figures = [(label, v) for name, label, v in FIGURE.findall(smoke_run) if name == "B6"]
    rates = [float(v.replace(",", "")) for label, v in figures if "throughput" in label]
    assert rates and all(r > 0 for r in rates), smoke_run
    assert re.search(r"^\| B6 errors .* of [0-9,]+ answers \| 0 \|", smoke_run, re.M), smoke_run
