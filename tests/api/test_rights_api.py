"""The rights beyond access and deletion through the back-office GraphQL API: rectification tasks (GDPR Art. 16),
preferences (restriction Art. 18, objection Art. 21, opt-out CCPA §1798.120) and the categories-only answer
(CCPA §1798.110); every change of a case and every preference is a webhook event without personal data."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dsar.api.graphql.preferences import PrivacyPreferenceKind
from dsar.demo.generate import build_demo
from dsar.kit.clock import FrozenClock, SystemClock
from dsar.notifications.webhooks import EVENTS
from dsar.requests.preferences import PREFERENCES
from tests.api.harness import Api, assert_validation, running_api, settings_for

JANE = "jane.doe@example.com"
M = "startPersonalDataRectificationTask"
TASK = 'query { personalDataRectificationTask(taskId: "%s") { taskId status dataSubject { email } errors { code } } }'
CASE = 'query { privacyRequest(id: "%s") { id type status jurisdiction rule timeline { kind data } } }'


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    d = tmp_path / "demo"
    build_demo(d, customers=50)
    return d


@pytest.fixture
def api(tmp_path: Path, shop: Path) -> Iterator[Api]:
    settings = settings_for(tmp_path, shop, portability={"allow_private_notify_urls": True})
    with running_api(settings, clock=FrozenClock(SystemClock().now())) as a:
        yield a


def gql(api: Api, query: str) -> dict[str, Any]:
    body = api.gql(query).json()
    assert "errors" not in body, body
    return dict(body["data"])


def rectify(values: str, email: str = JANE, extra: str = "") -> str:
    return (
        f'mutation {{ {M}(input: {{dataSubject: {{type: SHOPPER, email: "{email}"}}, values: [{values}]{extra}}}) '
        "{ taskId } }"
    )


def wait(api: Api, task_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        t = gql(api, TASK % task_id)["personalDataRectificationTask"]
        if t["status"] in ("COMPLETED", "FAILED"):
            return dict(t)
        time.sleep(0.05)
    raise AssertionError("the rectification did not finish")


def names(shop: Path) -> tuple[str, str, str]:
    with sqlite3.connect(shop / "shop.sqlite") as db:
        row = db.execute("SELECT first_name, last_name, email FROM customers WHERE email = ?", (JANE,)).fetchone()
    return tuple(row)  # type: ignore[return-value]


def test_enums_of_the_schema_are_those_of_the_services() -> None:
    assert {p.value for p in PrivacyPreferenceKind} == set(PREFERENCES)


def test_a_rectification_changes_the_field_and_its_case_records_before_and_after(api: Api, shop: Path) -> None:
    first, last, _ = names(shop)
    hook = api.container.webhooks.create("http://127.0.0.1:9/hook", ["PERSONAL_DATA_RECTIFICATION_TASK_COMPLETED"])
    tid = gql(api, rectify('{field: "shop.customers.first_name", value: "Janet"}', extra=', jurisdiction: "FR"'))[M][
        "taskId"
    ]
    assert wait(api, tid)["status"] == "COMPLETED"
    assert names(shop) == ("Janet", last, JANE)
    page = api.container.requests.page("default")
    (case,) = [v for v in page.items if tid in v.task_ids]
    view = gql(api, CASE % case.id)["privacyRequest"]
    assert (view["type"], view["status"], view["jurisdiction"], view["rule"]) == (
        "rectification",
        "completed",
        "FR",
        "gdpr",
    )
    (event,) = [m.fields["event"] for m in api.container.notifications.messages(hook.id)]
    assert event["resources"] == [f"businessProduct/default/personalDataRectificationTask/{tid}"]
    assert event["detail"] == {}
    (line,) = [json.loads(e["data"]) for e in view["timeline"] if e["kind"] == "rectified"]
    assert line["changes"] == [
        {"collection": "shop.customers", "key": {"id": 1}, "field": "first_name", "before": first, "after": "Janet"}
    ]


@pytest.mark.parametrize(
    ("values", "issue"),
    [
        (
            '{field: "shop.customers.email", value: "x@example.com"}',
            f"/{M}/input/values/shop.customers.email is not a rectifiable field of the data map",
        ),
        (
            '{field: "shop.customers.birth_date", value: "yesterday"}',
            f"/{M}/input/values/shop.customers.birth_date: expected a date (ISO 8601, e.g. 2024-05-01)",
        ),
        ("", f"/{M}/input/values must name at least one field"),
        (
            '{field: "shop.customers.phone", value: "1"}, {field: "shop.customers.phone", value: "2"}',
            f"/{M}/input/values names a field twice",
        ),
    ],
)
def test_a_bad_rectification_is_refused_and_starts_nothing(api: Api, shop: Path, values: str, issue: str) -> None:
    before = names(shop)
    body = api.gql(rectify(values)).json()
    assert_validation(body, f"Input request is not valid, the following issues were encountered: [{issue}]")
    assert names(shop) == before
    assert api.container.requests.page("default").items == []


def test_a_bad_jurisdiction_is_refused(api: Api) -> None:
    body = api.gql(rectify('{field: "shop.customers.phone", value: "1"}', extra=', jurisdiction: "Paris!"')).json()
    assert "jurisdiction" in body["errors"][0]["message"]
    assert api.container.requests.page("default").items == []


def test_preferences_are_recorded_read_and_pushed_without_personal_data(api: Api) -> None:
    hook = api.container.webhooks.create("http://127.0.0.1:9/hook", list(EVENTS))
    q = (
        'mutation { recordPrivacyPreference(input: {dataSubject: {type: SHOPPER, email: "%s"}, preference: %s, '
        'active: %s, scope: %s, jurisdiction: "US-CA"}) { requestId subjectRef preference { preference active } } }'
    )
    done = gql(api, q % (JANE, "OPT_OUT_SALE", "true", "null"))["recordPrivacyPreference"]
    gql(api, q % (JANE, "OBJECTION", "true", '"direct marketing"'))
    gql(api, q % (JANE, "OPT_OUT_SALE", "false", "null"))  # withdrawn later
    ref = done["subjectRef"]
    read = "query { privacyPreferences(%s) { subjectRef preferences { preference active scope law requestId } } }"
    by_email = gql(api, read % f'dataSubject: {{type: SHOPPER, email: "{JANE.upper()}"}}')["privacyPreferences"]
    by_ref = gql(api, read % f'subjectRef: "{ref}"')["privacyPreferences"]
    assert by_email == by_ref
    assert [(p["preference"], p["active"], p["scope"]) for p in by_ref["preferences"]] == [
        ("OBJECTION", True, "direct marketing"),
        ("OPT_OUT_SALE", False, None),
    ]
    case = api.container.requests.get("default", done["requestId"])
    assert (case.type, case.status, case.rule) == ("opt_out", "completed", "ccpa")
    assert [e.kind for e in case.timeline] == ["received", "approved", "preference_recorded", "responded"]

    messages = api.container.notifications.messages(hook.id)
    events = [m.fields["event"] for m in messages]
    kinds = [e["detail-type"] for e in events]
    assert kinds.count("PRIVACY_PREFERENCE_CHANGED") == 3
    assert kinds.count("PRIVACY_REQUEST_RECEIVED") == 3 and kinds.count("PRIVACY_REQUEST_RESPONDED") == 3
    changed = [e["detail"] for e in events if e["detail-type"] == "PRIVACY_PREFERENCE_CHANGED"]
    first = {"subjectRef": ref, "preference": "opt_out_sale", "active": True, "requestId": done["requestId"]}
    assert [c for c in changed if c["requestId"] == done["requestId"]] == [first]
    dumped = json.dumps(events).lower()
    assert "jane" not in dumped and "direct marketing" not in dumped


def test_unknown_subject_ref_reads_as_no_preferences_and_a_bad_one_is_refused(api: Api) -> None:
    read = 'query { privacyPreferences(subjectRef: "%s") { preferences { preference } } }'
    assert gql(api, read % ("0" * 32))["privacyPreferences"]["preferences"] == []
    assert "subjectRef" in api.gql(read % "nope").json()["errors"][0]["message"]


def test_categories_are_answered_from_the_data_map(api: Api) -> None:
    q = (
        'mutation { answerCategoriesRequest(input: {dataSubject: {type: SHOPPER, email: "nobody@example.com"}, '
        'jurisdiction: "US-CA"}) { requestId categories sources purposes recipients } }'
    )
    answer = gql(api, q)["answerCategoriesRequest"]
    assert "user.contact.email" in answer["categories"] and "Shipping carriers" in answer["recipients"]
    assert answer["purposes"] and answer["sources"]
    case = api.container.requests.get("default", answer["requestId"])
    assert (case.type, case.status) == ("categories", "completed")  # answered though nobody's data is held
    (responded,) = [e for e in case.timeline if e.kind == "responded"]
    assert responded.data is not None and responded.data["answer"]["categories"] == answer["categories"]


def test_every_change_of_a_case_is_a_webhook_event_once(api: Api) -> None:
    hook = api.container.webhooks.create(
        "http://127.0.0.1:9/hook", ["PRIVACY_REQUEST_RECEIVED", "PRIVACY_REQUEST_EXTENDED"]
    )
    svc = api.container.requests
    rid = svc.open(tenant="default", type="access", channel="console", email=JANE, actor="op", jurisdiction="FR")
    svc.comment("default", rid, actor="op", text="Jane called")  # not subscribed
    svc.extend("default", rid, actor="op", reason="many systems")
    other = svc.open(tenant="elsewhere", type="access", channel="console", email=JANE, actor="op")
    events = [m.fields["event"] for m in api.container.notifications.messages(hook.id)]
    events.sort(key=lambda e: e["detail"]["sequence"])  # written at one frozen instant: the line's order
    assert [(e["detail-type"], e["detail"]["requestId"]) for e in events] == [
        ("PRIVACY_REQUEST_RECEIVED", rid),
        ("PRIVACY_REQUEST_EXTENDED", rid),
    ]
    assert other not in json.dumps(events)
    assert events[1]["resources"] == [f"businessProduct/default/privacyRequest/{rid}"]
    assert set(events[1]["detail"]) == {"requestId", "event", "sequence", "from", "to"}  # no reason text
