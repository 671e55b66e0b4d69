"""Memory stays flat: a real retrieval of a subject with ~200,000 rows, walk and archive, in a subprocess.

Not timed. The bound is on the peak RSS of the process that builds the archive (VmHWM), so that
a regression to building rows or the archive in memory fails here: 200,000 rows held as Python
objects alone take several hundred MB.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

ROWS = 200_000
BOUND_MB = 150

DATAMAP = """
version: 1
identities:
  email: email
sources:
  big:
    url: "sqlite:///{db}"
collections:
  big.people:
    primary_key: [id]
    identities:
      email: {{column: email, match: lower_trim}}
    processing: {{purpose: Test, legal_basis: "Art. 6(1)(b) GDPR", retention: 1 year}}
  big.events:
    primary_key: [id]
    references:
      - {{column: person_id, to: big.people.id}}
    processing: {{purpose: Test, legal_basis: "Art. 6(1)(b) GDPR", retention: 1 year}}
"""

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from datetime import UTC, datetime
    from pathlib import Path
    from dsar.datamap.loader import load
    from dsar.engine.archive import build_archive
    from dsar.connectors.registry import connect
    from dsar.engine.execute import EngineOptions, Sources, run_retrieval
    from dsar.engine.plan import build_plan
    from dsar.engine.results import ArchiveMeta

    dm = load(sys.argv[1])
    work = Path(sys.argv[2])
    sources = Sources(dm, connect)
    results, reports = run_retrieval(dm, build_plan(dm), sources, {"email": "jane.doe@example.com"}, work,
                                     EngineOptions())
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with (work / "out.zip").open("wb") as f:
        for chunk in build_archive(results, reports, ArchiveMeta("t", "j***@example.com", now, now, "test")):
            f.write(chunk)
    sources.dispose()
    # VmHWM is this process's own high-water mark; ru_maxrss would carry the forking parent's (pytest's) peak.
    hwm = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM:"))
    rss = int(hwm.split()[1]) / 1024
    print(json.dumps({"records": sum(r.records for r in results), "maxrss_mb": rss}))
    """
)


def test_peak_rss_of_a_large_retrieval_stays_bounded(tmp_path: Path) -> None:
    db = tmp_path / "big.sqlite"
    con = sqlite3.connect(db, isolation_level=None)
    con.executescript(
        """
        CREATE TABLE people (id INTEGER PRIMARY KEY, email VARCHAR(254) NOT NULL, name TEXT);
        CREATE INDEX ix_people_email ON people (lower(trim(email)));
        CREATE TABLE events (id INTEGER PRIMARY KEY, person_id INTEGER NOT NULL, ip VARCHAR(45),
          agent VARCHAR(200), amount NUMERIC(12, 2), at DATETIME);
        CREATE INDEX ix_events_person_id ON events (person_id);
        INSERT INTO people VALUES (1, 'jane.doe@example.com', 'Jane'), (2, 'other@example.com', 'Other');
        """
    )
    con.execute(
        f"""INSERT INTO events
        WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {ROWS + 1000})
        SELECT i, CASE WHEN i <= {ROWS} THEN 1 ELSE 2 END, '10.0.' || (i % 256) || '.1',
          '=Mozilla/5.0 (X11; Linux x86_64) Firefox/' || (i % 40), (i % 100000) / 100.0,
          datetime(1700000000 + i * 60, 'unixepoch') FROM g"""
    )
    con.close()
    datamap = tmp_path / "datamap.yaml"
    datamap.write_text(DATAMAP.format(db=db), encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(datamap), str(work)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["records"] == ROWS + 1
    assert report["maxrss_mb"] < BOUND_MB, f"peak RSS {report['maxrss_mb']:.0f} MB for {ROWS:,} rows"
    assert (work / "out.zip").stat().st_size > 1_000_000
