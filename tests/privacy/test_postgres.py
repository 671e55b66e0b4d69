"""The privacy center with its state on PostgreSQL: submit, verify, the work, the e-mails, a failed check."""

from __future__ import annotations

from pathlib import Path

from tests.api.harness import running_api
from tests.privacy.conftest import JANE, Mailbox, center_settings, code_in, text_of
from tests.privacy.test_flow import enter_code, submit, wait_case


def test_the_flow_on_postgresql(tmp_path: Path, demo_dir: Path, mailbox: tuple[Mailbox, int], pg_url: str) -> None:
    box, port = mailbox
    settings = center_settings(tmp_path, demo_dir, port).model_copy(update={"database_url": pg_url})
    with running_api(settings) as api:
        location = submit(api)
        assert "Thank you" in enter_code(api, location, code_in(box.wait_for(JANE, "verification code")))
        wait_case(api, "completed", "access")
        assert "Download your data" in text_of(box.wait_for(JANE, "is complete"))
        other = submit(api, rtype="deletion")
        for _ in range(5):
            enter_code(api, other, "000000" if code_in(box.wait_for(JANE, "verification code")) != "000000" else "1")
        case = wait_case(api, "denied", "deletion")
        assert case.decision_basis == "identity_not_verified"
