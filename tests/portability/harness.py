"""A running dsar (TestClient over the demo shop, frozen clock) with helpers for the Data Portability face."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi.testclient import TestClient

from dsar.api.app import create_app
from dsar.bootstrap import Container
from dsar.config import Settings
from dsar.kit.clock import FrozenClock
from dsar.portability.models import DataQuery
from tests import stack
from tests.api.harness import settings_for

JANE = "jane.doe@example.com"
ORDERS = "portability-physical-orders"
PROFILE = "portability-customer-profile"
RETURNS = "portability-physical-order-returns"
START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
DOWN_URL = "http://127.0.0.1:9/adp-notifications"  # nothing listens on the discard port


def adp_settings(tmp: Path, demo: Path, **portability: Any) -> Settings:
    return settings_for(tmp, demo, portability={"allow_private_notify_urls": True, **portability})


@dataclass
class Adp:
    client: TestClient
    container: Container
    clock: FrozenClock
    app_id: str
    prefix: str = "/portability"
    extra_apps: list[str] = field(default_factory=list)

    def app(self, name: str = "other app", url: str = DOWN_URL, rate_limit: int | None = None) -> str:
        return self.container.portability.create_app(name, url, rate_limit).app_id

    def token(
        self,
        *scopes: str,
        subject: str = JANE,
        app_id: str | None = None,
        ttl: int = 3600,
        transfer: dict[str, Any] | None = None,
    ) -> str:
        return self.container.endusers.issue(subject, list(scopes or (ORDERS,)), app_id or self.app_id, ttl, transfer)

    def post(self, scope: str, token: str | None) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"} if token is not None else {}
        return self.client.post(f"{self.prefix}/{scope}/data-queries", headers=headers)

    def records(self, scope: str, query_id: str, token: str, **params: str) -> httpx.Response:
        return self.client.get(
            f"{self.prefix}/{scope}/data-queries/{query_id}/records",
            params=params,
            headers={"authorization": f"Bearer {token}"},
        )

    def start(self, scope: str, token: str) -> str:
        r = self.post(scope, token)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def wait(self, query_id: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.container.db.session(write=False) as s:
                q = s.get(DataQuery, query_id)
                if q is not None and q.outcome is not None:
                    return q.outcome
            time.sleep(0.05)
        raise AssertionError(f"data query {query_id} did not finish in {timeout}s")

    def fetch(self, url: str) -> httpx.Response:
        """Follow a link: one of this server's over the TestClient, one to object storage (S3) over HTTP."""
        parts = urlsplit(url)
        if url.startswith(self.container.settings.public_url.rstrip("/") + "/"):
            return self.client.get(f"{parts.path}?{parts.query}")
        return self.client.get(url)

    def all_records(self, scope: str, query_id: str, token: str) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        params: dict[str, str] = {"maxResults": "250"}
        while True:
            body = self.records(scope, query_id, token, **params).json()
            out.extend(body["records"])
            if not body["nextPageToken"]:
                return out
            params["nextPageToken"] = body["nextPageToken"]


@contextmanager
def running_adp(settings: Settings, clock: FrozenClock | None = None) -> Iterator[Adp]:
    clock = clock or FrozenClock(START)
    container = Container(settings, clock=clock)
    try:
        with TestClient(create_app(container)) as client:
            stack.route_links(client)
            app_id = container.portability.create_app("tests", DOWN_URL).app_id
            yield Adp(client, container, clock, app_id, settings.portability.prefix)
    finally:
        container.close()
