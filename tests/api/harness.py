"""A running dsar app over the demo shop, with helpers to call its APIs as a client would."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from dsar.api.app import create_app
from dsar.bootstrap import Container
from dsar.config import Settings
from dsar.kit.clock import Clock, SystemClock
from tests import stack

START = 'mutation { startPersonalDataRetrievalTask(input: {dataSubject: {type: SHOPPER, email: "%s"}}) { taskId } }'
QUERY = (
    'query { personalDataRetrievalTask(taskId: "%s") { taskId status submissionDate lastUpdatedDate '
    "dataSubject { type email } dataRetrievalLink errors { code message } } }"
)


@dataclass
class Api:
    client: TestClient
    container: Container
    token: str

    def gql(
        self,
        query: str,
        token: str | None = None,
        variables: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        h = {"Authorization": f"Bearer {token or self.token}", **(headers or {})}
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        return self.client.post("/graphql", json=body, headers=h)

    def start(self, email: str) -> str:
        r = self.gql(START % email).json()
        return str(r["data"]["startPersonalDataRetrievalTask"]["taskId"])

    def task(self, task_id: str) -> dict[str, Any]:
        r = self.gql(QUERY % task_id).json()
        return dict(r["data"]["personalDataRetrievalTask"])

    def wait(self, task_id: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            t = self.task(task_id)
            if t["status"] != "IN_PROGRESS":
                return t
            time.sleep(0.05)
        raise AssertionError(f"task {task_id} did not finish in {timeout}s")


def assert_validation(body: dict[str, Any], message: str, code: str = "UnspecifiedError") -> None:
    """The one error of a BwP ValidationError answer, with `data: {<operation>: null}`."""
    [err] = body["errors"]
    assert err["message"] == message
    assert err["extensions"]["classification"] == {
        "type": "ValidationError",
        "code": code,
        "details": {"message": message},
        "errorType": "ValidationException",
        "errorCode": 400,
    }
    assert list(body["data"].values()) == [None]


def settings_for(tmp: Path, demo: Path, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp / "state",
        "datamap": demo / "datamap.yaml",
        "public_url": "http://testserver",
        "secret_key": "test-secret-key-not-for-production",
        "job": {"poll_seconds": 0.2, "lease_seconds": 5},
        "engine": {"retry_backoff_seconds": 0.01},
    }
    values.update(extra)
    if stack.SCALE:  # DSAR_TEST_STACK=scale: PostgreSQL, S3 and Celery (tests/stack.py)
        values.update(stack.overrides(values, extra))
    return Settings(**values)


@contextmanager
def running_api(
    settings: Settings, clock: Clock | None = None, scopes: tuple[str, ...] = ("privacy:manage", "files:manage")
) -> Iterator[Api]:
    container = Container(settings, clock=clock or SystemClock())
    app = create_app(container)
    try:
        with TestClient(app) as client:
            stack.route_links(client)
            cid, secret = container.auth.create_client("tests", list(scopes))
            r = client.post(
                "/token", data={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret}
            )
            assert r.status_code == 200, r.text
            yield Api(client, container, r.json()["access_token"])
    finally:
        container.close()
