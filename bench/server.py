"""A real `dsar serve` on a free loopback port, with an authenticated HTTP client: shared by the benchmarks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

DSAR = [sys.executable, "-m", "dsar"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and of its child processes (`dsar serve --processes N`)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    children = Path(f"/proc/{pid}/task/{pid}/children")
    for p in [pid, *(int(c) for c in (children.read_text().split() if children.exists() else []))]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime (fields 14 and 15 of stat)
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(
    work: Path,
    datamap: Path,
    scopes: list[str],
    database_url: str | None = None,
    serve_args: list[str] | None = None,
    env_extra: dict[str, str] | None = None,
    started: list[subprocess.Popen[bytes]] | None = None,
) -> Iterator[httpx.Client]:
    """Start `dsar serve` on the data map, create a client with `scopes`, yield an httpx client with its token."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSAR_")}
    env.update(
        DSAR_DATA_DIR=str(work / "state"),
        DSAR_DATAMAP=str(datamap),
        DSAR_PUBLIC_URL=base,
        DSAR_SECRET_KEY="bench-secret-key-0123456789abcdef0123",
        DSAR_LOG_LEVEL="WARNING",
    )
    if database_url:
        env["DSAR_DATABASE_URL"] = database_url
    env.update(env_extra or {})
    subprocess.run([*DSAR, "db", "upgrade"], env=env, check=True, capture_output=True)
    args = [arg for scope in scopes for arg in ("--scope", scope)]
    made = subprocess.run(
        [*DSAR, "clients", "create", "--name", "bench", *args, "--json"], env=env, check=True, capture_output=True
    )
    creds = json.loads(made.stdout)
    server = subprocess.Popen([*DSAR, "serve", "--port", str(port), *(serve_args or [])], env=env)
    if started is not None:
        started.append(server)
    try:
        with httpx.Client(base_url=base, timeout=60) as http:
            for _ in range(300):
                try:
                    if http.get("/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            token = http.post("/token", data={"grant_type": "client_credentials", **creds}).json()["access_token"]
            http.headers["Authorization"] = f"Bearer {token}"
            yield http
    finally:
        server.terminate()
        server.wait(30)
