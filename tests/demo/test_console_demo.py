"""`dsar demo`'s console history: a few hundred requests in every state, an admin who can sign in, made once."""

from __future__ import annotations

from pathlib import Path

from dsar.bootstrap import Container
from dsar.cli.demo_console import seed_console
from dsar.config import Settings
from dsar.db.migrate import upgrade


def test_the_demo_has_requests_in_every_state_and_a_working_admin(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "state", secret_key="k" * 32)
    c = Container(settings, with_workers=False)
    try:
        upgrade(c.db.engine)
        admin = seed_console(settings, tmp_path)
        assert seed_console(settings, tmp_path) == admin  # the second run reuses the first
        board = c.request_queue.dashboard("default")
        assert set(board.by_status) == {"received", "in_progress", "completed", "denied", "canceled"}
        assert sum(board.by_status.values()) == 300
        assert board.overdue > 0
        token, me = c.operators.sign_in(admin["email"], admin["password"])
        assert me.role == "admin" and token
        assert c.operators.verify_audit().ok
    finally:
        c.close()
