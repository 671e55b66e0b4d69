"""The README works as written: its set-up is the two commands, and its API tour, pasted into bash, runs
against a live `dsar demo` (what `make demo` runs) started in a folder of its own.

The tour's blocks run unchanged but for one thing: the demo listens on a free port rather than 8000, so
`http://127.0.0.1:8000` becomes its address. Nothing else is given to the shell: the client id and secret
come from where the README says they do. docs/testing.md, "The README is tested"."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.demo_process import clean_env, running_demo
from tests.markdown import ROOT, blocks

README = ROOT / "README.md"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", re.M)


def _sh(heading: str) -> list[str]:
    return [b.text for b in blocks(README) if b.lang == "sh" and b.heading.startswith(heading)]


def test_the_set_up_is_make_demo_and_make_test() -> None:
    [setup] = _sh("Set-up")
    commands = [line.split("#", 1)[0].strip() for line in setup.splitlines() if line.split("#", 1)[0].strip()]
    assert commands == ["make demo", "make test"]


def test_the_tour_says_where_its_variables_come_from() -> None:
    tour = "\n".join(_sh("A tour of the API"))
    for name in ("API", "CLIENT_ID", "CLIENT_SECRET", "TOKEN", "TASK", "LINK"):
        used, set_at = tour.find(f"${name}"), re.search(rf"^(?:export )?{name}=", tour, re.M)
        assert set_at is not None and set_at.start() < used, f"${name} is used before the tour sets it"
    assert "unzip -o" in tour  # a second run does not stop at unzip's question
    assert not re.search(r"taskId: \\\"[0-9a-f]{8}-\.\.\.", tour)  # no made-up task id to paste


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_tour_runs_against_a_live_demo(tmp_path: Path) -> None:
    tour = _sh("A tour of the API")
    assert tour, "the README has no tour"
    dsar = [str(Path(sys.executable).with_name("dsar"))]
    env = clean_env()
    with running_demo(dsar, tmp_path, env) as demo:
        script = "\n".join(tour).replace("http://127.0.0.1:8000", demo.base)
        assert demo.base in script
        out = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert out.returncode == 0, f"{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    printed = demo.log.read_text()
    creds = json.loads((tmp_path / "dsar-demo" / "demo-client.json").read_text())
    assert f"client_id={creds['client_id']}" in printed  # the file holds the client the demo printed
    assert "dsar-demo/state/outbox" in printed  # where the privacy center's e-mails go (README, docs/privacy-center.md)
    [task_id] = UUID.findall(out.stdout.split("\n", 1)[0] + "\n")  # step 2 echoes the task id
    task = json.loads((tmp_path / "dsar-demo" / "task.json").read_text())["data"]["personalDataRetrievalTask"]
    assert task["taskId"] == task_id and task["status"] == "COMPLETED", task
    assert task["dataSubject"] == {"type": "SHOPPER", "email": "jane.doe@example.com"}
    with zipfile.ZipFile(tmp_path / "dsar-demo" / "data_retrieval.zip") as archive:
        assert archive.testzip() is None
        names = set(archive.namelist())
    assert "index.html" in names and (tmp_path / "dsar-demo" / "jane" / "index.html").is_file()
    assert "index.html" in out.stdout  # step 4 lists what it unpacked
