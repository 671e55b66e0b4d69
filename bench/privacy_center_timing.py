"""Privacy center: does a submission take as long for an unknown address as for a known one?

`python -m bench.privacy_center_timing [--runs 40]` builds the demo shop, serves the app in-process with a real
SMTP server on loopback (aiosmtpd), and submits requests for a known address (jane.doe@example.com) and an
unknown one, interleaved, printing the median and quartiles of each (figures, not assertions: the design makes
both do the same work, docs/privacy-center.md).
"""

from __future__ import annotations

import argparse
import re
import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient


class _Sink:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    from dsar.api.app import create_app
    from dsar.bootstrap import Container
    from dsar.config import Settings
    from dsar.demo.generate import build_demo

    with tempfile.TemporaryDirectory() as tmp, socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        smtp = Controller(_Sink(), hostname="127.0.0.1", port=port)
        smtp.start()
        build_demo(Path(tmp) / "demo", customers=2000)
        settings = Settings(
            data_dir=Path(tmp) / "state",
            datamap=Path(tmp) / "demo" / "datamap.yaml",
            secret_key="bench-secret-key-0123456789",
            odr={"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none"},
            privacy={"codes_per_hour": 100},
        )
        container = Container(settings, with_workers=False)
        times: dict[str, list[float]] = {"known": [], "unknown": []}
        try:
            with TestClient(create_app(container)) as client:
                token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/privacy").text)
                assert token
                for i in range(args.runs * 2):
                    kind = "known" if i % 2 == 0 else "unknown"
                    email = "jane.doe@example.com" if kind == "known" else f"nobody{i}@example.net"
                    form = {"csrf_token": token.group(1), "type": "access", "email": email, "place": "US-CA"}
                    start = time.perf_counter()
                    r = client.post("/privacy/requests", data=form, follow_redirects=False)
                    times[kind].append((time.perf_counter() - start) * 1000)
                    assert r.status_code == 303
        finally:
            container.close()
            smtp.stop()
    print("| address | median | p25 | p75 | runs |")
    print("|---|---|---|---|---|")
    for kind, values in times.items():
        q = statistics.quantiles(values, n=4)
        print(f"| {kind} | {statistics.median(values):.1f} ms | {q[0]:.1f} ms | {q[2]:.1f} ms | {len(values)} |")


if __name__ == "__main__":
    main()
