"""Privacy requests through the back-office GraphQL API: names fixed by issue 14, Buy with Prime error format."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dsar.api.graphql.requests import DenialBasis
from dsar.kit.clock import FrozenClock
from dsar.requests.service import DENIAL_BASES
from tests.api.harness import Api, running_api, settings_for

FIELDS = (
    "id type channel jurisdiction rule subject status receivedAt dueDate daysLeft overdue extendableUntil "
    "extendedOn extensionReason assignee decision decisionBasis decisionLaw decidedBy withheld { collection basis } "
    "taskIds timeline { actor kind data }"
)
START = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def api(tmp_path: Path, demo_dir: Path, clock: FrozenClock) -> Iterator[Api]:
    with running_api(settings_for(tmp_path, demo_dir, run_workers=False), clock=clock) as a:
        yield a


def _open(api: Api, tenant: str = "default", place: str = "US-CA") -> str:
    return api.container.requests.open(
        tenant=tenant, type="access", channel="console", email="jane.doe@example.com", actor="op", jurisdiction=place
    )


def test_denial_bases_of_the_schema_are_those_of_the_service() -> None:
    assert {b.value for b in DenialBasis} == set(DENIAL_BASES)


def test_list_read_and_work_a_request(api: Api, clock: FrozenClock) -> None:
    rid = _open(api)
    other = _open(api, tenant="someone-else")
    body = api.gql("query { privacyRequests(first: 10) { items { id subject dueDate daysLeft } hasNextPage } }").json()
    assert body["data"]["privacyRequests"] == {
        "items": [{"id": rid, "subject": "j***@example.com", "dueDate": "2026-03-01", "daysLeft": 45}],
        "hasNextPage": False,
    }
    ops = [
        ('assignPrivacyRequest(input: {requestId: "%s", assignee: "alice"})', "assignee", "alice"),
        ('commentPrivacyRequest(input: {requestId: "%s", text: "called back"})', "status", "received"),
        ('extendPrivacyRequest(input: {requestId: "%s", reason: "three systems"})', "dueDate", "2026-04-15"),
        ('approvePrivacyRequest(input: {requestId: "%s"})', "status", "in_progress"),
    ]
    for op, key, value in ops:
        r = api.gql("mutation { %s { %s } }" % (op % rid, FIELDS)).json()
        assert "errors" not in r, r
        assert next(iter(r["data"].values()))[key] == value
    r = api.gql(
        'mutation { denyPrivacyRequest(input: {requestId: "%s", basis: LEGAL_EXEMPTION, law: "CCPA §1798.145(a)"}) '
        "{ %s } }" % (rid, FIELDS)
    ).json()
    assert "errors" not in r, r
    view = r["data"]["denyPrivacyRequest"]
    assert (view["status"], view["decisionBasis"], view["decisionLaw"]) == (
        "denied",
        "legal_exemption",
        "CCPA §1798.145(a)",
    )
    assert [e["kind"] for e in view["timeline"]] == [
        "received",
        "assigned",
        "commented",
        "extended",
        "approved",
        "denied",
    ]
    assert json.loads(view["timeline"][3]["data"]) == {
        "from": "2026-03-01",
        "reason": "three systems",
        "to": "2026-04-15",
    }
    assert {e["actor"] for e in view["timeline"][1:]} == {f"client:{_client_id(api)}"}
    # Another tenant's request answers like an unknown one.
    r = api.gql('query { privacyRequest(id: "%s") { id } }' % other).json()
    assert r["errors"][0]["extensions"]["classification"]["errorType"] == "ResourceNotFoundException"


def _client_id(api: Api) -> str:
    import jwt

    return str(jwt.decode(api.token, options={"verify_signature": False})["sub"])


def test_refusals_are_conflicts_and_bad_ids_validation_errors(api: Api, clock: FrozenClock) -> None:
    rid = _open(api, place="BR")  # the LGPD allows no extension
    r = api.gql('mutation { extendPrivacyRequest(input: {requestId: "%s", reason: "x"}) { id } }' % rid).json()
    c = r["errors"][0]["extensions"]["classification"]
    assert (c["errorCode"], c["code"]) == (409, "ExtensionRefused") and "allows no extension" in r["errors"][0][
        "message"
    ]
    r = api.gql('mutation { approvePrivacyRequest(input: {requestId: "nope"}) { id } }').json()
    assert r["errors"][0]["message"].endswith("[/approvePrivacyRequest/input/requestId must be a UUID]")
    r = api.gql('query { privacyRequests(after: "bogus") { hasNextPage } }').json()
    assert r["errors"][0]["extensions"]["classification"]["errorType"] == "ValidationException"
    r = api.gql("query { privacyRequests(filter: {overdue: true}) { items { id } } }").json()
    assert r["data"]["privacyRequests"]["items"] == []
    clock.advance(timedelta(days=-16))  # a request received 16 days ago in Brazil (15 days) is overdue today
    late = _open(api, place="BR")
    clock.advance(timedelta(days=16))
    r = api.gql("query { privacyRequests(filter: {overdue: true}) { items { id overdue daysLeft } } }").json()
    assert r["data"]["privacyRequests"]["items"] == [{"id": late, "overdue": True, "daysLeft": -1}]


def test_the_scope_is_required(tmp_path: Path, demo_dir: Path) -> None:
    with running_api(settings_for(tmp_path, demo_dir, run_workers=False), scopes=("files:manage",)) as api:
        r = api.gql("query { privacyRequests { hasNextPage } }").json()
        assert r["errors"][0]["extensions"]["classification"]["errorType"] == "AccessDeniedException"


def test_every_task_a_face_starts_opens_a_case_that_its_end_moves_on(tmp_path: Path, demo_dir: Path) -> None:
    settings = settings_for(tmp_path, demo_dir, requests={"default_jurisdiction": "US-CA"})
    with running_api(settings) as api:
        found = api.start("jane.doe@example.com")
        missing = api.start("nobody.at.all@example.com")
        assert api.wait(found)["status"] == "COMPLETED" and api.wait(missing)["status"] == "FAILED"
        q = "query { privacyRequests(first: 10) { items { type channel rule status decision decisionBasis taskIds } } }"
        items = {i["taskIds"][0]: i for i in api.gql(q).json()["data"]["privacyRequests"]["items"]}
        assert items[found] == {
            "type": "access",
            "channel": "bwp",
            "rule": "ccpa",
            "status": "completed",
            "decision": "approved",
            "decisionBasis": None,
            "taskIds": [found],
        }
        assert (items[missing]["status"], items[missing]["decisionBasis"]) == ("denied", "no_data_held")
