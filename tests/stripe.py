"""localstripe (a third-party Stripe emulator from PyPI) on a free loopback port, and data put into it.

`python -m tests.stripe PORT` serves localstripe's own aiohttp app on 127.0.0.1 only (its command line
listens on every interface) and keeps its state in memory (it would pickle it to a shared file in /tmp
after every write). `running()` starts that process for a test session or a benchmark; `Seed` creates
customers, cards, charges and subscriptions through Stripe's API as any client would.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

KEY = "sk_test_dsar"  # localstripe accepts any key that looks like a secret key


@contextmanager
def running() -> Iterator[str]:
    """The emulator's base URL while the block runs."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.stripe", str(port)], cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None:
                    err = proc.stderr.read().decode(errors="replace")[-2000:] if proc.stderr else ""
                    raise RuntimeError(f"localstripe did not start: {err}") from None
                if time.monotonic() > deadline:
                    raise RuntimeError("localstripe did not start in 30 s") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stderr:
            proc.stderr.close()


class Seed:
    """Writes to the emulator through Stripe's API (form-encoded, as Stripe's clients send)."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
        self._plan = False

    def close(self) -> None:
        self.http.close()

    def reset(self) -> None:
        self.http.delete("/_config/data").raise_for_status()

    def post(self, path: str, **data: Any) -> dict[str, Any]:
        resp = self.http.post(path, data=data)
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body

    def customer(self, email: str, name: str = "", *, card: bool = True, **extra: Any) -> str:
        data: dict[str, Any] = {"email": email, **extra}
        if name:
            data["name"] = name
        if card:
            data["source"] = self.post(
                "/v1/tokens",
                **{"card[number]": "4242424242424242", "card[exp_month]": "12", "card[exp_year]": "2030"},
                **{"card[cvc]": "123"},
            )["id"]
        return str(self.post("/v1/customers", **data)["id"])

    def charge(self, customer: str, amount: int = 1000, **extra: Any) -> str:
        return str(self.post("/v1/charges", customer=customer, amount=amount, currency="eur", **extra)["id"])

    def payment_method(self, customer: str) -> str:
        pm = self.post(
            "/v1/payment_methods",
            type="card",
            **{"card[number]": "4242424242424242", "card[exp_month]": "12", "card[exp_year]": "2030"},
            **{"card[cvc]": "123"},
        )["id"]
        self.post(f"/v1/payment_methods/{pm}/attach", customer=customer)
        return str(pm)

    def subscribe(self, customer: str) -> str:
        if not self._plan:
            self.post(
                "/v1/plans", id="dsar-gold", amount=500, currency="eur", interval="month", **{"product[name]": "Gold"}
            )
            self._plan = True
        return str(self.post("/v1/subscriptions", customer=customer, **{"items[0][plan]": "dsar-gold"})["id"])

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(path, params=params)


def _serve(port: int) -> None:
    from aiohttp import web
    from localstripe import server

    server.store.dump_to_disk = lambda: None  # state in memory only: several emulators may run at once
    web.run_app(server.app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
