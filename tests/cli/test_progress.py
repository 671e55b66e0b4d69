"""Long CLI work shows a progress line on a terminal's stderr, and nothing when stderr is a file or pipe."""

from __future__ import annotations

import io
from pathlib import Path

from dsar.cli.progress import ProgressLine
from dsar.demo.generate import build_demo


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_demo_build_reports_its_steps_and_a_rebuild_none(tmp_path: Path) -> None:
    heard: list[tuple[str, int, int]] = []
    build_demo(tmp_path, customers=600, progress=lambda *step: heard.append(step))
    customers = [done for step, done, total in heard if step == "customers"]
    assert customers == sorted(customers) and customers[-1] == 600 and len(customers) >= 3
    assert heard[-1] == ("written", 2, 2)
    again: list[tuple[str, int, int]] = []
    build_demo(tmp_path, customers=600, progress=lambda *step: again.append(step))
    assert again == []  # reused: no work, no progress


def test_the_line_is_drawn_on_a_terminal_and_erased() -> None:
    out = Terminal()
    line = ProgressLine("demo data", out, interval=0)
    line("customers", 250, 1000)
    line("customers", 1000, 1000)
    assert "\rdemo data: customers 250/1,000 (25%)" in out.getvalue()
    assert "customers 1,000/1,000 (100%)" in out.getvalue()
    line.close()
    assert out.getvalue().endswith("\r" + " " * 72 + "\r")


def test_nothing_is_written_when_stderr_is_not_a_terminal() -> None:
    out = io.StringIO()
    line = ProgressLine("demo data", out, interval=0)
    line("customers", 1, 2)
    line.close()
    assert out.getvalue() == ""


def test_the_data_map_check_reports_each_source_and_table(demo_dir: Path) -> None:
    from dsar.connectors.registry import connect
    from dsar.datamap.loader import load
    from dsar.engine.check import check
    from dsar.engine.sources import Sources

    dm = load(demo_dir / "datamap.yaml")
    seen: list[tuple[str, int, int]] = []
    sources = Sources(dm, connect)
    try:
        assert check(dm, sources, lambda *step: seen.append(step)).ok
    finally:
        sources.dispose()
    tables = [s for s in seen if s[0] == "tables"]
    assert [s[1] for s in tables] == list(range(len(dm.collections))) and tables[0][2] == len(dm.collections)
    assert [s for s in seen if s[0] == "sources"] == [("sources", i, len(dm.sources)) for i in range(len(dm.sources))]


def test_the_benchmark_generator_reports_its_statements(tmp_path: Path) -> None:
    from bench.generate import generate_sqlite

    seen: list[tuple[str, int, int]] = []
    generate_sqlite(tmp_path, 50, progress=lambda *step: seen.append(step))
    for db in ("shop", "support"):
        steps = [s for s in seen if s[0] == f"{db} tables"]
        assert steps[-1][1] == steps[-1][2] > 0 and [s[1] for s in steps] == list(range(steps[-1][2] + 1))
    seen.clear()
    generate_sqlite(tmp_path, 50, progress=lambda *step: seen.append(step))
    assert seen == []  # reused: nothing to do, nothing reported
