"""A request made at the privacy center and approved in the console starts its engine work at once."""

from __future__ import annotations

from tests.api.harness import Api
from tests.privacy.conftest import JANE, Mailbox, center_api, code_in, mailbox  # noqa: F401  (fixtures)
from tests.privacy.test_flow import enter_code, submit, wait_case
from tests.web.console_helpers import csrf_of, make_operator, sign_in


def test_the_teams_approval_in_the_console_starts_the_verified_requests_work(
    center_api: Api,  # noqa: F811
    mailbox: tuple[Mailbox, int],  # noqa: F811
) -> None:
    box, _port = mailbox
    location = submit(center_api, rtype="deletion", place="US-VA")  # deletions wait for the team
    enter_code(center_api, location, code_in(box.wait_for(JANE, "verification code")))
    case = wait_case(center_api, "received", "deletion")
    c = center_api.container
    assert c.requests.get(c.requests.company_tenant, case.id).task_ids == []
    make_operator(c, "dpo@example.com", "approver")
    client = center_api.client
    assert sign_in(client, "dpo@example.com").status_code == 303
    page = client.get(f"/console/requests/{case.id}").text
    r = client.post(f"/console/requests/{case.id}/approve", data={"csrf_token": csrf_of(page)}, follow_redirects=False)
    assert r.status_code == 303
    after = c.requests.get(c.requests.company_tenant, case.id)
    assert after.status == "in_progress" and len(after.task_ids) == 1  # started now, not at the next periodic run
    shown = client.get(f"/console/requests/{case.id}").text
    assert f'data-task="{after.task_ids[0]}"' in shown
