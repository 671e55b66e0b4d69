"""The console in the operator's language: Accept-Language (or ?lang=) picks the catalog for every page."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dsar.api.app import create_app
from dsar.bootstrap import Container
from dsar.config import Settings
from dsar.kit.clock import FrozenClock
from dsar.requests.service import DENIAL_BASES
from tests.web.console_helpers import START, csrf_of, make_operator, seed, sign_in


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Container, dict[str, str]]]:
    clock = FrozenClock(START)
    c = Container(Settings(data_dir=tmp_path, secret_key="k" * 32, run_workers=False), clock=clock, with_workers=False)
    with TestClient(create_app(c)):  # runs the migrations
        pass
    make_operator(c, "approver@example.com", "approver")
    ids = seed(c, clock)
    yield c, ids
    c.close()


def _client(c: Container, accept_language: str) -> TestClient:
    client = TestClient(create_app(c, migrate=False))
    client.headers["Accept-Language"] = accept_language
    return client


def test_a_german_operator_signs_in_and_reads_the_requests_in_german(world: Any) -> None:
    c, ids = world
    client = _client(c, "de-DE,de;q=0.9,en;q=0.5")
    page = client.get("/console/sign-in")
    assert page.status_code == 200 and '<html lang="de">' in page.text
    assert "An der Konsole anmelden" in page.text and "Passwort" in page.text
    assert "Sign in to the console" not in page.text
    refused = sign_in(client, "approver@example.com", "wrong password!")
    assert refused.status_code == 401 and "Nach wiederholten Fehlversuchen" in refused.text

    assert sign_in(client, "approver@example.com").status_code == 303
    queue = client.get("/console/requests")
    assert queue.status_code == 200
    for german in ("Anträge betroffener Personen", "Betroffene Person", "Frist", "Tage überfällig", "Abmelden"):
        assert german in queue.text, german
    for english in ("Privacy requests", "days overdue", "Sign out", "Export CSV"):
        assert english not in queue.text, english
    assert ">Entscheidung offen</option>" in queue.text  # the status filter shows labels, not codes

    bad = client.get("/console/requests", params={"q": "olga"})  # the console's own error, translated
    assert bad.status_code == 400 and "vollständigen E-Mail-Adresse der betroffenen Person" in bad.text

    rid = ids["fresh_access"]
    page = client.get(f"/console/requests/{rid}").text
    assert "Antrag genehmigen" in page and "manifestly_unfounded — offenkundig unbegründet" in page
    form = csrf_of(page)
    approved = client.post(f"/console/requests/{rid}/approve", data={"csrf_token": form})
    assert approved.status_code == 200 and "Gespeichert: Genehmigung" in approved.text
    missing = client.post(f"/console/requests/{rid}/download", data={"csrf_token": form, "task": "nope"})
    assert missing.status_code == 404 and "Für diese Aufgabe gibt es kein Archiv." in missing.text


@pytest.mark.parametrize(
    ("lang", "heading", "subject"),
    [
        ("fr", "Demandes des personnes concernées", "Personne concernée"),
        ("es", "Solicitudes de los interesados", "Interesado"),
        ("en", "Privacy requests", "Subject"),
    ],
)
def test_the_requests_list_in_french_spanish_and_english(world: Any, lang: str, heading: str, subject: str) -> None:
    c, _ids = world
    client = _client(c, f"{lang};q=0.9")
    assert sign_in(client, "approver@example.com").status_code == 303
    queue = client.get("/console/requests").text
    assert f'<html lang="{lang}">' in queue and heading in queue and f">{subject}</th>" in queue
    assert client.get("/console/requests", params={"lang": "de"}).text.count("Betroffene Person") >= 1


def test_in_english_the_denial_bases_read_as_the_requests_service_words_them(world: Any) -> None:
    c, ids = world
    client = _client(c, "en")
    assert sign_in(client, "approver@example.com").status_code == 303
    page = html.unescape(client.get(f"/console/requests/{ids['fresh_access']}").text)
    for key, text in DENIAL_BASES.items():  # the template's translatable copies have not drifted
        assert f'<option value="{key}">{key} — {text}</option>' in page, key
