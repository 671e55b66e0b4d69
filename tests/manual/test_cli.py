"""`dsar steps list|show|answer`: an operator answers a step from files; mistakes are one line, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from dsar.bootstrap import Container
from dsar.cli.app import app as cli
from dsar.db.migrate import upgrade
from tests.api.harness import settings_for
from tests.manual.helpers import JANE, manual_datamap


def test_an_operator_lists_shows_and_answers_a_step(tmp_path: Path, demo_dir: Path) -> None:
    dm = manual_datamap(demo_dir)
    settings = settings_for(tmp_path, demo_dir, datamap=dm)
    c = Container(settings, with_workers=False)
    try:
        upgrade(c.db.engine)
        tid = c.tasks.start_retrieval("t1", JANE, None)
        assert c.worker.claim("w1") == tid
        c.worker.run(tid, "w1")
    finally:
        c.close()
    env = {"DSAR_DATA_DIR": str(settings.data_dir), "DSAR_DATAMAP": str(dm), "DSAR_SECRET_KEY": settings.secret_key}
    run = CliRunner()

    listed = run.invoke(cli, ["steps", "list", "--status", "pending", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    [step] = json.loads(listed.output)
    assert (step["taskId"], step["source"], step["status"]) == (tid, "crm", "pending")
    assert "searchFor" not in step  # the list names nobody

    shown = run.invoke(cli, ["steps", "show", step["stepId"]], env=env)
    assert shown.exit_code == 0
    assert json.loads(shown.output)["searchFor"] == {"email": JANE}

    bad = tmp_path / "contacts.csv"
    bad.write_bytes(b"a,b\n1\n")
    refused = run.invoke(cli, ["steps", "answer", step["stepId"], "--file", str(bad)], env=env)
    assert refused.exit_code != 0 and "Traceback" not in refused.output
    assert "as many cells as its header" in refused.output

    both = run.invoke(cli, ["steps", "answer", step["stepId"], "--no-data", "--erased"], env=env)
    assert both.exit_code == 2 and "one of --file" in both.output

    unknown = run.invoke(cli, ["steps", "show", "0" * 32], env=env)
    assert unknown.exit_code == 1 and "No such step." in unknown.output

    good = tmp_path / "found.csv"
    good.write_bytes(b"contact_id,email\n17,jane.doe@example.com\n")
    answered = run.invoke(cli, ["steps", "answer", step["stepId"], "--file", str(good)], env=env)
    assert answered.exit_code == 0, answered.output
    assert "answered (1 file(s))" in answered.output
    again = run.invoke(cli, ["steps", "answer", step["stepId"], "--no-data"], env=env)
    assert again.exit_code == 1 and "closed already" in again.output
