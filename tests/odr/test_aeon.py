"""The Aeon desktop app's Open Data Rights flow (spec/apis.md §4), replayed request by request.

Aeon opens `{url}/oauth/authorize?redirect_uri=aeon://odr-callback` (no client id, no PKCE), reads `token`
from the redirect, posts only `code=<token>` to `{url}/oauth/token`, reads `account` from `/data/me`, posts
`/requests` without a body, polls `/requests/{id}/complete` until the text is `1`, then unzips the download.
"""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path
from urllib.parse import parse_qs, urlencode

from tests.api.harness import Api, running_api, settings_for
from tests.odr.conftest import JANE, Inbox, form_field

URL = "/odr"


def test_aeon_signs_in_requests_and_downloads(odr_api: Api, smtp: tuple[Inbox, int]) -> None:
    inbox, _port = smtp
    client = odr_api.client
    page = client.get(f"{URL}/oauth/authorize?" + urlencode({"redirect_uri": "aeon://odr-callback"}))
    assert page.status_code == 200, page.text
    flow = form_field(page.text, "sign_in")
    # The person types their address and the code in Aeon's window (a browser without our JavaScript).
    client.post(f"{URL}/oauth/authorize", data={"sign_in": flow, "step": "email", "email": "Jane.Doe@Example.com"})
    code = inbox.code_for(JANE)
    done = client.post(
        f"{URL}/oauth/authorize", data={"sign_in": flow, "step": "code", "code": code}, follow_redirects=False
    )
    location = done.headers["location"]
    assert location.startswith("aeon://odr-callback?")
    # Aeon: new URLSearchParams(url.replace('aeon://odr-callback', '')).get('token')
    token = parse_qs(location.replace("aeon://odr-callback", "").lstrip("?"))["token"][0]

    tokens = client.post(
        f"{URL}/oauth/token",
        content=urlencode({"code": token}),
        headers={"content-type": "application/x-www-form-urlencoded;charset=UTF-8"},
    ).json()
    assert tokens["access_token"] and tokens["refresh_token"]
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}

    assert client.get(f"{URL}/data/me", headers=auth).json()["account"] == JANE
    request_id = client.post(f"{URL}/requests", headers=auth).json()["requestId"]
    deadline = time.monotonic() + 60
    while client.get(f"{URL}/requests/{request_id}/complete", headers=auth).text != "1":
        assert time.monotonic() < deadline, "the request did not complete"
        time.sleep(0.05)
    archive = client.get(f"{URL}/requests/{request_id}/download", headers=auth).content
    names = zipfile.ZipFile(io.BytesIO(archive)).namelist()
    assert "open-data-rights-api/data.json" in names and "data/shop/customers.json" in names
    assert "data/support/messages.json" in names  # no body: every data type

    # A second exchange of the same code fails; Aeon would have to sign in again.
    again = client.post(f"{URL}/oauth/token", data={"code": token})
    assert again.status_code == 400


def test_plain_sign_in_is_refused_when_not_allowed(tmp_path: Path, demo_dir: Path) -> None:
    settings = settings_for(tmp_path, demo_dir, run_workers=False, odr={"plain_redirect_uris": []})
    with running_api(settings) as api:
        page = api.client.get(f"{URL}/oauth/authorize?" + urlencode({"redirect_uri": "aeon://odr-callback"}))
        assert page.status_code == 400 and "client id" in page.text
