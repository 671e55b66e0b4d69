"""Work files sealed at rest (`EngineOptions(seal_spool=True)`, set when encryption at rest is on): the spool
files on disk hold no row in clear, and the archive built from them is the same as from clear ones."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from dsar.connectors.registry import connect
from dsar.datamap.loader import load
from dsar.engine.archive import build_archive
from dsar.engine.execute import EngineOptions, Sources, run_retrieval
from dsar.engine.plan import build_plan
from dsar.engine.results import ArchiveMeta

EMAIL = "jane.doe@example.com"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _archive(demo_dir: Path, work: Path, seal: bool) -> tuple[dict[str, bytes], list[Path]]:
    dm = load(demo_dir / "datamap.yaml")
    sources = Sources(dm, connect)
    work.mkdir()
    try:
        results, reports = run_retrieval(
            dm, build_plan(dm), sources, {"email": EMAIL}, work, EngineOptions(seal_spool=seal)
        )
    finally:
        sources.dispose()
    spools = [r.spool for r in results if r.spool is not None and r.spool.exists()]
    data = b"".join(build_archive(results, reports, ArchiveMeta("t", "j***@example.com", NOW, NOW, "test")))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = {n: archive.read(n) for n in archive.namelist() if n.startswith("data/")}
    return members, spools


def test_sealed_work_files_hold_no_plaintext_and_give_the_same_archive(demo_dir: Path, tmp_path: Path) -> None:
    clear, clear_spools = _archive(demo_dir, tmp_path / "clear", seal=False)
    sealed, sealed_spools = _archive(demo_dir, tmp_path / "sealed", seal=True)
    assert any(EMAIL.encode() in p.read_bytes() for p in clear_spools)
    assert sealed_spools
    for path in sealed_spools:
        assert EMAIL.encode() not in path.read_bytes()
        assert path.read_bytes().startswith(b"DSAR-SPOOL-1\n")
    assert clear and sealed == clear
