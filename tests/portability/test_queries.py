"""The Data Portability REST face over real HTTP: 002's examples, errors, isolation, paging, transfer preferences."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import jsonschema
import orjson
import pytest

from tests.portability import docs002
from tests.portability.harness import JANE, ORDERS, PROFILE, RETURNS, Adp, adp_settings, running_adp

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def adp(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Adp]:
    tmp = tmp_path_factory.mktemp("adp")
    with running_adp(adp_settings(tmp, demo_dir, rows_per_part=2)) as api:
        yield api


def _error(r: object, status: int, category: str, type_: str) -> dict[str, str]:
    import httpx

    assert isinstance(r, httpx.Response)
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"category", "type", "message"} and body["message"]
    assert (body["category"], body["type"]) == (category, type_)
    return dict(body)


def _rows(adp: Adp, records: list[dict[str, str]]) -> dict[str, list[dict[str, object]]]:
    """Download every data file, validate it against its schema; rows per collection."""
    out: dict[str, list[dict[str, object]]] = {}
    for rec in records:
        schema = adp.fetch(rec["schema"])
        data = adp.fetch(rec["file"])
        assert schema.status_code == 200 and data.status_code == 200
        rows = orjson.loads(data.content)
        jsonschema.Draft202012Validator(orjson.loads(schema.content)).validate(rows)
        name = rec["file"].split("?")[0].rsplit("/", 1)[-1].split(".part")[0]
        out.setdefault(name, []).extend(rows)
    return out


def test_every_example_of_002_replays(adp: Adp) -> None:
    """Each curl of 002 against the server; the answers have the documented shapes and error bodies."""
    s = {x.title: x.body for x in reversed(docs002.samples())}
    token = adp.token(ORDERS, subject="sally.sample@example.com")
    [create, default, both, only_max, only_token] = docs002.curls()
    assert create.method == "POST"
    adp.container.runner.stop()  # the query stays in progress (the clock must not jump under a running task)
    try:
        r = adp.client.request(
            create.method,
            "/portability" + create.path.replace("$SCOPE_ID", ORDERS),
            headers={"authorization": f"Bearer {token}"},
        )
        assert r.status_code == 201 and set(r.json()) == set(s["Sample successful response:"])
        qid = r.json()["id"]
        assert UUID.match(qid)
        adp.clock.advance(timedelta(minutes=6))  # past the five-minute memory: a new POST meets the running query
        conflict = adp.post(ORDERS, token)
        assert conflict.status_code == 409 and conflict.json() == docs002.samples()[1].body
    finally:
        adp.container.runner.start()
    adp.wait(qid)
    jane = adp.token(ORDERS)
    jq = adp.start(ORDERS, jane)
    assert adp.wait(jq) == "COMPLETED"

    def call(curl: docs002.Curl, query_id: str, tok: str, page_token: str = "") -> dict[str, object]:
        params = {k: v.replace("$NEXT_PAGE_TOKEN", page_token) for k, v in curl.params.items()}
        path = "/portability" + curl.path.replace("$SCOPE_ID", ORDERS).replace("$QUERY_ID", query_id)
        r = adp.client.request(curl.method, path, params=params, headers={"authorization": f"Bearer {tok}"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"records", "nextPageToken"}
        for rec in body["records"]:
            assert set(rec) == {"schema", "file"}
        return dict(body)

    first = call(only_max, jq, jane)  # maxResults=1
    assert len(first["records"]) == 1 and first["nextPageToken"]  # type: ignore[arg-type]
    nxt = call(both, jq, jane, str(first["nextPageToken"]))  # maxResults=3 + nextPageToken
    assert len(nxt["records"]) == 3  # type: ignore[arg-type]
    rest = call(only_token, jq, jane, str(nxt["nextPageToken"]))
    full = call(default, jq, jane)
    assert full["nextPageToken"] == "" and rest["nextPageToken"] == ""
    assert len(full["records"]) == 1 + 3 + len(rest["records"])  # type: ignore[arg-type]
    # "without next page result": a subject with no rows in the scope
    empty = call(default, qid, token)
    assert empty == s["Sample response without next page result:"]
    bad = adp.records(ORDERS, jq, jane, maxResults="251")
    assert bad.status_code == 400 and bad.json() == docs002.samples()[5].body


def test_data_files_validate_and_large_collections_split(adp: Adp) -> None:
    token = adp.token(ORDERS)
    qid = adp.start(ORDERS, token)
    assert adp.wait(qid) == "COMPLETED"
    records = adp.all_records(ORDERS, qid, token)
    rows = _rows(adp, records)
    assert len(rows["shop.orders"]) == 4
    assert sum(1 for r in records if "shop.orders.part" in r["file"]) == 2  # 4 rows, 2 per part
    assert {"shop.orders", "shop.order_items", "shop.payments"} == set(rows)
    assert all(set(row) >= {"id", "status", "placed_at"} for row in rows["shop.orders"])


def test_history_window_and_row_filter(adp: Adp) -> None:
    token = adp.token(ORDERS, RETURNS, transfer={"history_days": 30})
    qid = adp.start(ORDERS, token)
    assert adp.wait(qid) == "COMPLETED"
    rows = _rows(adp, adp.all_records(ORDERS, qid, token))
    assert [str(o["placed_at"])[:10] for o in rows["shop.orders"]] == ["2026-10-28"]
    assert len(rows["shop.order_items"]) == 3
    since = adp.token(ORDERS, transfer={"history_since": "2024-01-01"}, app_id=adp.app("since app"))
    q2 = adp.start(ORDERS, since)
    adp.wait(q2)
    assert len(_rows(adp, adp.all_records(ORDERS, q2, since))["shop.orders"]) == 3
    q3 = adp.start(RETURNS, token)
    adp.wait(q3)
    assert _rows(adp, adp.all_records(RETURNS, q3, token)) == {}  # the return was placed 2025: outside 30 days
    everything = adp.token(RETURNS, app_id=adp.app("returns app"))
    q4 = adp.start(RETURNS, everything)
    adp.wait(q4)
    assert [o["status"] for o in _rows(adp, adp.all_records(RETURNS, q4, everything))["shop.orders"]] == ["returned"]


def test_auth_scope_and_unknown_errors(adp: Adp) -> None:
    _error(adp.post(ORDERS, None), 401, "UNAUTHORIZED", "MISSING_TOKEN")
    _error(adp.post(ORDERS, "not-a-jwt"), 401, "UNAUTHORIZED", "INVALID_TOKEN")
    expired = adp.token(ORDERS, ttl=60)
    adp.clock.advance(timedelta(seconds=61))
    r = _error(adp.post(ORDERS, expired), 401, "UNAUTHORIZED", "EXPIRED_TOKEN")
    assert "expired" in r["message"]
    _error(adp.post("portability-nothing-here", adp.token(ORDERS)), 404, "NOT_FOUND", "SCOPE_NOT_FOUND")
    _error(adp.post(PROFILE, adp.token(ORDERS)), 403, "FORBIDDEN", "SCOPE_NOT_AUTHORIZED")
    stranger = adp.container.endusers.issue(JANE, [ORDERS], "unregistered-app")
    _error(adp.post(ORDERS, stranger), 403, "FORBIDDEN", "APP_NOT_REGISTERED")
    tok = adp.token(ORDERS)
    _error(adp.records(ORDERS, "nope", tok), 404, "NOT_FOUND", "QUERY_NOT_FOUND")


def test_isolation_foreign_queries_answer_like_unknown(adp: Adp) -> None:
    app_b = adp.app("app B")
    a_x = adp.token(PROFILE)
    qid = adp.start(PROFILE, a_x)
    assert adp.wait(qid) == "COMPLETED"
    assert adp.records(PROFILE, qid, a_x).status_code == 200
    unknown = adp.records(PROFILE, "00000000-0000-4000-8000-000000000000", a_x).json()
    b_x = adp.token(PROFILE, app_id=app_b)
    a_y = adp.token(PROFILE, subject="someone.else@example.com")
    for tok in (b_x, a_y):
        r = adp.records(PROFILE, qid, tok)
        assert r.status_code == 404
        assert r.json()["type"] == unknown["type"] and r.json()["category"] == unknown["category"]
    # the same query id under another scope is unknown too
    both = adp.token(PROFILE, ORDERS)
    assert adp.records(ORDERS, qid, both).status_code == 404


def test_paging_edges_and_tampered_tokens(adp: Adp) -> None:
    token = adp.token(ORDERS)
    qid = adp.start(ORDERS, token)
    adp.wait(qid)
    for value in ("0", "251", "-1", "abc", "", "1.5"):
        assert _error(adp.records(ORDERS, qid, token, maxResults=value), 400, "BAD_REQUEST", "INVALID_MAX_RESULTS")[
            "message"
        ] == ("Max results value is outside limits")
    assert adp.records(ORDERS, qid, token, maxResults="250").status_code == 200
    one = adp.records(ORDERS, qid, token, maxResults="1").json()
    page = one["nextPageToken"]
    payload, _sig = page.split(".")
    for bad in (page + "x", "x" + page, payload + ".AAAA", "garbage", payload):
        _error(adp.records(ORDERS, qid, token, nextPageToken=bad), 400, "BAD_REQUEST", "INVALID_NEXT_PAGE_TOKEN")
    other = adp.token(ORDERS, subject="sally.sample@example.com")  # a token of another caller: refused
    q_other = adp.start(ORDERS, other)
    adp.wait(q_other)
    _error(adp.records(ORDERS, q_other, other, nextPageToken=page), 400, "BAD_REQUEST", "INVALID_NEXT_PAGE_TOKEN")
    # walking with maxResults=1 visits every record once, the last page says ""
    seen, params = [], {"maxResults": "1"}
    while True:
        body = adp.records(ORDERS, qid, token, **params).json()
        seen += [r["file"].split("?")[0] for r in body["records"]]
        if body["nextPageToken"] == "":
            break
        params["nextPageToken"] = body["nextPageToken"]
    full = [r["file"].split("?")[0] for r in adp.records(ORDERS, qid, token).json()["records"]]
    assert seen == full and len(set(seen)) == len(seen)


def test_five_minute_rule_conflict_and_one_time_grant(adp: Adp) -> None:
    app = adp.app("grant app")
    once = adp.token(PROFILE, app_id=app, transfer={"grant": "once", "history_days": 365})
    first = adp.post(PROFILE, once)
    again = adp.post(PROFILE, once)  # within five minutes: the same response
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    adp.wait(first.json()["id"])
    adp.clock.advance(timedelta(minutes=5, seconds=1))
    r = _error(adp.post(PROFILE, once), 403, "FORBIDDEN", "AUTHORIZATION_USED")
    assert "one-time" in r["message"]
    many = adp.token(PROFILE, app_id=app, transfer={"grant": "90d"})
    q2 = adp.start(PROFILE, many)
    adp.wait(q2)
    adp.clock.advance(timedelta(minutes=6))
    assert adp.start(PROFILE, many) != q2  # finished: a new query may start


def test_conflict_while_in_progress(adp: Adp) -> None:
    """A query that cannot run yet (workers stopped) stays in progress: after five minutes, 409."""
    app = adp.app("conflict app")
    token = adp.token(PROFILE, app_id=app)
    adp.container.runner.stop()
    try:
        qid = adp.start(PROFILE, token)
        assert adp.post(PROFILE, token).json() == {"id": qid}
        adp.clock.advance(timedelta(minutes=5, seconds=1))
        assert adp.post(PROFILE, token).json() == docs002.samples()[1].body
        assert adp.post(PROFILE, token).status_code == 409
        _error(adp.records(PROFILE, qid, token), 409, "CONFLICT", "QUERY_IN_PROGRESS")
    finally:
        adp.container.runner.start()
    assert adp.wait(qid) == "COMPLETED"


def test_throttling_per_app(adp: Adp) -> None:
    app = adp.app("slow app", rate_limit=3)
    token = adp.token(PROFILE, app_id=app)
    adp.clock.advance(timedelta(seconds=60))  # a fresh window
    answers = [adp.post(PROFILE, token) for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 201]
    codes_ids = [a.json()["id"] for a in answers]
    r = adp.post(PROFILE, token)
    _error(r, 429, "TOO_MANY_REQUESTS", "THROTTLED")
    assert int(r.headers["retry-after"]) >= 1
    other = adp.post(PROFILE, adp.token(PROFILE))
    assert other.status_code == 201  # another app is not throttled
    adp.wait(codes_ids[0])
    adp.wait(other.json()["id"])  # the clock must not jump under a running task
    adp.clock.advance(timedelta(seconds=60))
    assert adp.post(PROFILE, token).status_code == 201
