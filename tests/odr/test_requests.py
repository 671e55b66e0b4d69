"""The Open Data Rights requests API over HTTP: spec conformance, limits, isolation, the archive, expiry."""

from __future__ import annotations

import io
import json
import time
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from dsar.kit.ids import new_id
from dsar.tasks.jobs import result_key
from tests.api.harness import Api, running_api, settings_for
from tests.odr.conftest import JANE, Spec, bearer
from tests.odr.test_oauth import MovableClock

UNAUTHORIZED = {
    "error": "Unauthorized",
    "message": "You are not authorized. Generate authentication tokens via OAuth to access this resource.",
}
NOT_FOUND = {"error": "Not Found", "message": "Could not find a data request with this id."}
PROTECTED = [
    ("GET", "/requests", "/requests"),
    ("POST", "/requests", "/requests"),
    ("GET", "/requests/{id}", "/requests/{requestId}"),
    ("DELETE", "/requests/{id}", "/requests/{requestId}"),
    ("GET", "/requests/{id}/complete", "/requests/{requestId}/complete"),
    ("GET", "/requests/{id}/download", "/requests/{requestId}/download"),
    ("GET", "/data/me", "/data/me"),
]


def wait_done(api: Api, rid: str, headers: dict[str, str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if api.client.get(f"/odr/requests/{rid}/complete", headers=headers).text == "1":
            return
        time.sleep(0.05)
    raise AssertionError(f"request {rid} did not complete")


def call(api: Api, method: str, path: str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
    return api.client.request(method, "/odr" + path, headers=headers or {}, **kw)


@pytest.mark.parametrize(
    "auth", [None, "Bearer nope", "Basic abc", "token-for-another-scope"], ids=["none", "bad", "basic", "scope"]
)
def test_every_protected_route_answers_401_with_the_spec_body(odr_api: Api, spec: Spec, auth: str | None) -> None:
    headers: dict[str, str] = {}
    if auth == "token-for-another-scope":
        headers["Authorization"] = "Bearer " + odr_api.container.endusers.issue(JANE, ["portability-physical-orders"])
    elif auth:
        headers["Authorization"] = auth
    rid = new_id()
    for method, path, spec_path in PROTECTED:
        r = call(odr_api, method, path.replace("{id}", rid), headers)
        assert r.status_code == 401 and r.json() == UNAUTHORIZED, (method, path, r.text)
        spec.check(method, spec_path, r)


def test_public_documents_conform_to_the_spec(odr_api: Api, spec: Spec) -> None:
    r = call(odr_api, "GET", "/settings")
    spec.check("GET", "/settings", r)
    body = r.json()
    assert body["maxNumberOfRequests"] == 2 and body["supportedLanaguages"] == ["en", "nl"]
    r = call(odr_api, "GET", "/data")
    spec.check("GET", "/data", r)
    types = {t["type"]: t for t in r.json()}
    assert types["Person"]["context"] == "https://schema.org/Person"
    assert types["Order"] == {
        "type": "Order",
        "context": "https://schema.org/Order",
        "processingGround": "legalObligation",
        "isErasable": False,
        "isRectifiable": False,
        "description": "Orders you placed, their items and payments (kept for tax law)",
    }
    nl = call(odr_api, "GET", "/data", params={"lang": "nl"})
    spec.check("GET", "/data", nl)
    assert nl.json()[0]["description"].startswith("Uw klantaccount")
    bad = call(odr_api, "GET", "/data", params={"lang": "xx"})
    spec.check("GET", "/data", bad)
    assert bad.status_code == 400 and bad.json() == {
        "error": "LanguageNotSupported",
        "message": "The language you are requesting is not supported by this organisation",
    }
    me = call(odr_api, "GET", "/data/me", bearer(odr_api))
    spec.check("GET", "/data/me", me)
    assert me.json() == {"account": JANE, "types": list(types)}


def test_a_request_runs_and_its_archive_holds_only_the_requested_types(odr_api: Api, spec: Spec) -> None:
    h = bearer(odr_api)
    r = call(odr_api, "POST", "/requests", h, json=["Review", "Person", "Review"])
    spec.check("POST", "/requests", r)
    assert r.status_code == 200
    req = r.json()
    assert req["dataRequested"] == ["Review", "Person"] and req["isCompleted"] is False
    rid = req["requestId"]
    early = call(odr_api, "GET", f"/requests/{rid}/download", h)
    if early.status_code == 400:  # the job may already have finished
        spec.check("GET", "/requests/{requestId}/download", early)
        assert early.json() == {
            "error": "Bad Request",
            "message": "The request you are trying to retrieve has not been completed yet",
        }
    wait_done(odr_api, rid, h)
    for method, path in (("GET", "/requests/{requestId}"), ("GET", "/requests/{requestId}/complete")):
        r = call(odr_api, method, path.replace("{requestId}", rid), h)
        spec.check(method, path, r)
    got = call(odr_api, "GET", f"/requests/{rid}", h).json()
    assert got["isCompleted"] is True and "completedAt" in got
    listed = call(odr_api, "GET", "/requests", h)
    spec.check("GET", "/requests", listed)
    assert [x["requestId"] for x in listed.json()] == [rid]

    z = call(odr_api, "GET", f"/requests/{rid}/download", h)
    spec.check("GET", "/requests/{requestId}/download", z)
    assert z.headers["content-type"] == "application/zip"
    zf = zipfile.ZipFile(io.BytesIO(z.content))
    names = set(zf.namelist())
    assert {
        "open-data-rights-api/data.json",
        "open-data-rights-api/data-me.json",
        "open-data-rights-api/schemas/Person.json",
        "open-data-rights-api/schemas/Review.json",
        "linked-data/Person.jsonld",
        "linked-data/Review.jsonld",
        "manifest.json",
        "index.html",
    } <= names
    data_files = {n for n in names if n.startswith("data/") and n.endswith(".json")}
    assert data_files == {"data/shop/customers.json", "data/shop/addresses.json", "data/shop/product_reviews.json"}
    assert not any("Order" in n or "Message" in n for n in names)
    assert json.loads(zf.read("open-data-rights-api/data.json")) == call(odr_api, "GET", "/data").json()
    assert json.loads(zf.read("open-data-rights-api/data-me.json"))["account"] == JANE
    person = json.loads(zf.read("linked-data/Person.jsonld"))
    assert person["@context"] == "https://schema.org/Person"
    assert person["@graph"] and all(n["@type"] == "Person" for n in person["@graph"])
    assert any(n.get("email", "").lower() == JANE for n in person["@graph"])
    schema = json.loads(zf.read("open-data-rights-api/schemas/Review.json"))
    assert schema["@context"] == "https://schema.org/Review" and schema["collections"][0]["properties"]
    manifest = json.loads(zf.read("manifest.json"))
    assert "open-data-rights-api/data.json" in {f["path"] for f in manifest["files"]}


def test_limits_and_bad_bodies(odr_api: Api, spec: Spec) -> None:
    h = bearer(odr_api, "limits@example.com")
    for body in (["Nope"], {"a": 1}, [1], "not json"):
        kw: dict[str, Any] = {"content": body} if isinstance(body, str) else {"json": body}
        r = call(odr_api, "POST", "/requests", {**h, "content-type": "application/json"}, **kw)
        spec.check("POST", "/requests", r)
        assert r.json() == {
            "error": "InvalidDataTypes",
            "message": "The data types that were specified do not match the available datatypes for this organisation.",
        }
    # Omitted body (and []) = every type. Nobody has data under this address: the archive still comes.
    first = call(odr_api, "POST", "/requests", h)
    assert len(first.json()["dataRequested"]) == 6
    second = call(odr_api, "POST", "/requests", h, json=[])
    assert second.status_code == 200
    # A third is refused only while both are in progress (the workers may be done already; the limit itself
    # is tested without workers in test_the_limit_counts_requests_in_progress).
    third = call(odr_api, "POST", "/requests", h)
    if third.status_code == 400:
        spec.check("POST", "/requests", third)
        assert third.json() == {
            "error": "MaximumAmountOfRequestsReached",
            "message": "The maximum amount of requests has been reached.",
        }
    wait_done(odr_api, first.json()["requestId"], h)
    z = call(odr_api, "GET", f"/requests/{first.json()['requestId']}/download", h)
    names = zipfile.ZipFile(io.BytesIO(z.content)).namelist()
    assert "open-data-rights-api/data-me.json" in names and not any(n.startswith("data/") for n in names)


def test_the_limit_counts_requests_in_progress(tmp_path: Path, demo_dir: Path) -> None:
    settings = settings_for(tmp_path, demo_dir, run_workers=False, odr={"max_requests": 2})
    with running_api(settings) as api:
        h = bearer(api)
        ids = [call(api, "POST", "/requests", h).json()["requestId"] for _ in range(2)]
        r = call(api, "POST", "/requests", h)
        assert r.status_code == 400 and r.json()["error"] == "MaximumAmountOfRequestsReached"
        other = call(api, "POST", "/requests", bearer(api, "someone@example.com"))
        assert other.status_code == 200  # the limit is per person
        assert call(api, "DELETE", f"/requests/{ids[0]}", h).text == "OK"
        assert call(api, "POST", "/requests", h).status_code == 200  # "submit a new data request immediately"


def test_another_persons_request_is_unknown_on_every_route(odr_api: Api, spec: Spec) -> None:
    jane = bearer(odr_api)
    rid = call(odr_api, "POST", "/requests", jane, json=["Review"]).json()["requestId"]
    wait_done(odr_api, rid, jane)
    mallory = bearer(odr_api, "mallory@example.com")
    for method, path, spec_path in PROTECTED[2:6]:
        for target in (rid, new_id(), "not-a-uuid"):
            r = call(odr_api, method, path.replace("{id}", target), mallory)
            assert r.status_code == 404 and r.json() == NOT_FOUND, (method, path, target)
            spec.check(method, spec_path, r)
    assert call(odr_api, "GET", "/requests", mallory).json() == []
    assert call(odr_api, "GET", f"/requests/{rid}/complete", jane).text == "1"  # untouched


def test_delete_cancels_and_removes_the_archive_at_once(odr_api: Api, spec: Spec) -> None:
    h = bearer(odr_api)
    rid = call(odr_api, "POST", "/requests", h, json=["Person"]).json()["requestId"]
    wait_done(odr_api, rid, h)
    storage = odr_api.container.storage
    assert storage.exists(result_key(rid))
    r = call(odr_api, "DELETE", f"/requests/{rid}", h)
    spec.check("DELETE", "/requests/{requestId}", r)
    assert r.status_code == 200 and r.text == "OK" and r.headers["content-type"].startswith("text/plain")
    assert not storage.exists(result_key(rid))
    assert call(odr_api, "GET", f"/requests/{rid}", h).status_code == 404
    assert call(odr_api, "DELETE", f"/requests/{rid}", h).status_code == 404


def test_completed_requests_expire(tmp_path: Path, demo_dir: Path) -> None:
    clock = MovableClock()
    # The periodic janitor is set 30 days apart so that this test, not the background loop, runs the cleanup.
    odr = {"retention_days": 7, "janitor_interval_seconds": 30 * 86400}
    with running_api(settings_for(tmp_path, demo_dir, odr=odr), clock=clock) as api:
        h = bearer(api)
        rid = call(api, "POST", "/requests", h, json=["Review"]).json()["requestId"]
        wait_done(api, rid, h)
        clock.advance(timedelta(days=6, hours=23))
        h = bearer(api)
        assert call(api, "GET", f"/requests/{rid}", h).status_code == 200
        clock.advance(timedelta(hours=2))
        h = bearer(api)
        assert call(api, "GET", "/requests", h).json() == []  # gone from the API at once
        assert call(api, "GET", f"/requests/{rid}/download", h).status_code == 404
        assert api.container.storage.exists(result_key(rid))  # until the periodic job runs
        assert api.container.odr.requests.delete_expired(clock.now()) == 1
        assert not api.container.storage.exists(result_key(rid))
