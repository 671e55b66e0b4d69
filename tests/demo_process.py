"""`dsar demo` as a newcomer runs it: a real process in a folder of its own, on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass(frozen=True)
class Demo:
    base: str  # http://127.0.0.1:<port>
    cwd: Path  # where it was started: the demo lives in cwd/dsar-demo
    log: Path  # what it printed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without any DSAR_* setting or the variables the README's tour sets."""
    drop = {"CLIENT_ID", "CLIENT_SECRET", "TOKEN", "TASK", "LINK", "API"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSAR_") and k not in drop}
    return {**env, **extra}


@contextmanager
def running_demo(dsar: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> Iterator[Demo]:
    """Start `<dsar> demo --port P` in `cwd` (it builds its 10,000-customer shop there first) and wait until
    it answers /healthz; stop it afterwards."""
    port = free_port()
    log = cwd / "demo.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*dsar, "demo", "--port", str(port)], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"dsar demo exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"dsar demo did not answer in {timeout} s:\n{log.read_text()[-4000:]}")
            time.sleep(0.2)
        yield Demo(base, cwd, log)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
