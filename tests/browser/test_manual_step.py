"""A manual step's page in a real Chromium (no JavaScript): the vendor opens the e-mailed link, picks a CSV file,
sends the answer and sees the step closed; the task then completes with the file in its archive."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dsar.api.app import create_app
from dsar.bootstrap import Container
from dsar.tasks.states import COMPLETED, RETRIEVAL
from tests.api.harness import settings_for
from tests.browser.test_privacy_center import _click, browser  # noqa: F401  (the Chromium fixture)
from tests.live import loopback_server
from tests.manual.helpers import JANE, VENDOR, archive_of, manual_datamap, sources_doc
from tests.privacy.conftest import smtp_server, text_of

pytestmark = pytest.mark.timeout(180)
CSV = b"contact_id,email,owner\n17,jane.doe@example.com,Sales EMEA\n"


@pytest.fixture
def live(tmp_path: Path, demo_dir: Path) -> Iterator[tuple[Container, Any]]:
    dm = manual_datamap(demo_dir)
    holder: dict[str, Container] = {}
    with smtp_server() as (box, port):
        odr = {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none", "mail_from": "dpo@shop.example"}

        def app_for(base: str) -> Any:
            s = settings_for(tmp_path, demo_dir, datamap=dm, public_url=base, odr=odr, manual={"poll_seconds": 1})
            holder["c"] = Container(s)
            return create_app(holder["c"])

        with loopback_server(app_for):
            try:
                yield holder["c"], box
            finally:
                holder["c"].close()


def test_a_vendor_answers_in_chromium(browser: Any, live: tuple[Container, Any], tmp_path: Path) -> None:  # noqa: F811
    c, box = live
    tid = c.tasks.start_retrieval("t1", JANE, None)
    found = re.search(r"(http://\S+/steps/\S+)", text_of(box.wait_for(VENDOR, "privacy request")))
    assert found
    browser.get(found.group(1))
    assert JANE in browser.page_source
    upload = tmp_path / "contacts.csv"
    upload.write_bytes(CSV)
    browser.find_element("css selector", "#files").send_keys(str(upload))
    _click(browser, "button[type=submit]", until='id="step-closed"')
    deadline = time.monotonic() + 60
    while c.tasks.get("t1", tid, RETRIEVAL).status != COMPLETED:
        assert time.monotonic() < deadline, "the task did not complete"
        time.sleep(0.1)
    with archive_of(c, tid) as z:
        assert z.read("data/crm/contacts.csv") == CSV
        assert sources_doc(z)["crm"]["manual"] == "answered"
