"""Open Data Rights fixtures: a real SMTP server on loopback, the app over the demo shop, the spec's validator."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller
from jsonschema import Draft7Validator
from referencing import Registry, Resource

from dsar.auth.endusers import ODR_SCOPE
from tests.api.harness import Api, running_api, settings_for

CLIENT = "open-data-rights"
REDIRECT = "https://app.example.org/callback"
JANE = "jane.doe@example.com"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


class Inbox:
    """An SMTP handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []
        self.lock = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), bytes(envelope.content)))
            self.lock.notify_all()
        return "250 Message accepted for delivery"

    def code_for(self, to: str, after: int = 0, timeout: float = 10) -> str:
        """The sign-in code of the newest message to `to` beyond the first `after` messages."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                for rcpt, raw in reversed(self.messages[after:]):
                    if to in rcpt:
                        body = message_from_bytes(raw).get_payload(decode=True)
                        assert isinstance(body, bytes)
                        found = re.search(rb"code is (\d{6})", body)
                        assert found, body
                        return found.group(1).decode()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no e-mail to {to}")
                self.lock.wait(left)


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    with socket.socket() as probe:  # aiosmtpd's start-up check needs the port up front
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def odr_api(tmp_path: Path, demo_dir: Path, smtp: tuple[Inbox, int]) -> Iterator[Api]:
    _inbox, port = smtp
    odr = {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none", "max_requests": 2}
    with running_api(settings_for(tmp_path, demo_dir, odr=odr)) as api:
        yield api


def bearer(api: Api, email: str = JANE) -> dict[str, str]:
    return {"Authorization": "Bearer " + api.container.endusers.issue(email, [ODR_SCOPE], CLIENT, 3600)}


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def form_field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no {name} field in the page"
    return found.group(1)


@dataclass
class SignIn:
    """A client's view of one authorization-code sign-in."""

    verifier: str
    redirect: str
    query: dict[str, str] = field(default_factory=dict)

    @property
    def code(self) -> str:
        return self.query["code"]


def sign_in(api: Api, inbox: Inbox, email: str = JANE, redirect: str = REDIRECT, state: str = "xyz") -> SignIn:
    """Walk the authorize pages as a browser would (no JavaScript): e-mail, code from the inbox, redirect."""
    verifier, challenge = pkce()
    params = {
        "response_type": "code",
        "client_id": CLIENT,
        "redirect_uri": redirect,
        "scope": ODR_SCOPE,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    page = api.client.get("/odr/oauth/authorize", params=params)
    assert page.status_code == 200, page.text
    assert "<script" not in page.text.lower()
    flow = form_field(page.text, "sign_in")
    seen = len(inbox.messages)
    page = api.client.post("/odr/oauth/authorize", data={"sign_in": flow, "step": "email", "email": email})
    assert page.status_code == 200 and "Check your e-mail" in page.text, page.text
    code = inbox.code_for(email, after=seen)
    done = api.client.post(
        "/odr/oauth/authorize", data={"sign_in": flow, "step": "code", "code": code}, follow_redirects=False
    )
    assert done.status_code == 303, done.text
    location = done.headers["location"]
    assert location.startswith(redirect + "?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert query["state"] == state
    return SignIn(verifier, redirect, query)


def exchange(api: Api, s: SignIn, **override: str) -> Any:
    data = {
        "grant_type": "authorization_code",
        "code": s.code,
        "redirect_uri": s.redirect,
        "client_id": CLIENT,
        "code_verifier": s.verifier,
        **override,
    }
    return api.client.post("/odr/oauth/token", data=data)


class Spec:
    """Validates responses against the Open Data Rights OpenAPI spec (its schemas, via jsonschema): a copy in
    tests/odr/fixtures/ (MIT, its licence beside it)."""

    def __init__(self) -> None:
        self.doc = json.loads((FIXTURES / "open-data-rights-openapi.json").read_text(encoding="utf-8"))
        self.registry: Registry[Any] = Registry().with_resource("urn:odr", Resource.opaque(self.doc))

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            target: Any = self.doc
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    def check(self, method: str, path: str, response: Any) -> None:
        op = self.doc["paths"][path][method.lower()]
        responses = op["responses"]
        status = str(response.status_code)
        assert status in responses, f"{method} {path}: status {status} is not in the spec ({list(responses)})"
        spec = self._resolve(responses[status])
        content = spec.get("content")
        if not content:
            return
        ctype = response.headers["content-type"].split(";")[0].strip()
        assert ctype in content, f"{method} {path} {status}: {ctype} not in {list(content)}"
        schema = content[ctype].get("schema", {})
        if ctype == "application/json":
            body = response.json()
            schema = {**schema, "components": self.doc["components"]}
            validator = Draft7Validator(_refs_to_urn(schema), registry=self.registry)
            errors = sorted(validator.iter_errors(body), key=str)
            assert not errors, f"{method} {path} {status}: {errors[0]}"
            if "oneOf" not in schema and schema.get("type") == "object" and "properties" in schema:
                assert set(body) <= set(schema["properties"]), f"{method} {path}: extra fields {set(body)}"
        elif ctype == "text/plain":
            assert response.text in schema["enum"], f"{method} {path}: {response.text!r} not in {schema['enum']}"
        elif ctype == "application/zip":
            assert response.content[:2] == b"PK"


def _refs_to_urn(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: ("urn:odr" + v if k == "$ref" else _refs_to_urn(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_refs_to_urn(v) for v in node]
    return node


@pytest.fixture(scope="session")
def spec() -> Spec:
    return Spec()
