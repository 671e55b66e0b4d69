"""B7: downloading a large archive over loopback through a signed `/files` link, and resuming it with Range.

`python -m bench.download [--size-mb 1024] [--runs 5]` stores an object of that size in the local storage
of a real `dsar serve` (embedded mode), signs a link for it as the service does, and downloads it with
curl (to /dev/null: the client costs next to nothing) N times in full, then N times as a resume of its
second half (`Range: bytes=HALF-`). Before timing, one split download (first half + resumed tail) is
checked byte for byte against the stored object's SHA-256, and an unsatisfiable range against 416.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import tempfile
from pathlib import Path

import httpx

from bench.server import served

KEY = "privacyRequest/00000000-0000-4000-8000-000000000b07/result/data_retrieval.zip"
SECRET = "bench-secret-key-0123456789abcdef0123"
BLOCK = 1 << 20
# B7 measures the route's local-file path (sendfile-like reads, ETag and If-Range): encryption at rest off,
# in the server and in the process that stores the object (docs/encryption.md: sealed objects stream decrypted).
CLEAR = {"DSAR_ENCRYPTION__ENABLED": "false"}
CLEAR_SETTING = {"enabled": False}


def _content(size: int) -> bytes:
    """A 1 MiB block of pseudo-random bytes (incompressible, recognisable offsets are not needed)."""
    return hashlib.shake_256(b"dsar-bench-b7").digest(min(size, BLOCK))


def store(data_dir: Path, public_url: str, size: int) -> tuple[str, str]:
    """Write the object into the server's local storage; a signed link and its SHA-256."""
    from dsar.bootstrap import Container
    from dsar.config import Settings

    settings = Settings(data_dir=data_dir, secret_key=SECRET, public_url=public_url, encryption=CLEAR_SETTING)
    c = Container(settings, with_workers=False)
    block = _content(size)

    def chunks() -> object:
        left = size
        while left > 0:
            yield block[: min(left, len(block))]
            left -= len(block)

    stored = c.storage.put_stream(KEY, chunks(), "application/zip")  # type: ignore[arg-type]
    url = c.storage.signed_url(KEY, 3600, filename="data_retrieval.zip")  # type: ignore[attr-defined]
    return str(url), stored.sha256


def curl(url: str, range_from: int | None = None) -> tuple[int, int, float]:
    """(status, bytes, seconds) of one download to /dev/null."""
    args = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{time_total}"]
    if range_from is not None:
        args += ["-H", f"Range: bytes={range_from}-"]
    status, size, seconds = subprocess.run([*args, url], check=True, capture_output=True, text=True).stdout.split()
    return int(status), int(size), float(seconds)


def verify(url: str, size: int, sha256: str) -> None:
    """First half, then the tail resumed with Range (If-Range on the ETag): the bytes are the stored object."""
    digest = hashlib.sha256()
    half = size // 2
    with httpx.Client(timeout=120) as http:
        with http.stream("GET", url, headers={"Range": f"bytes=0-{half - 1}"}) as r:
            assert r.status_code == 206, r.status_code
            assert r.headers["content-range"] == f"bytes 0-{half - 1}/{size}", r.headers
            etag = r.headers["etag"]
            for chunk in r.iter_raw(BLOCK):
                digest.update(chunk)
        with http.stream("GET", url, headers={"Range": f"bytes={half}-", "If-Range": etag}) as r:
            assert r.status_code == 206, r.status_code
            assert r.headers["content-range"] == f"bytes {half}-{size - 1}/{size}", r.headers
            for chunk in r.iter_raw(BLOCK):
                digest.update(chunk)
        assert digest.hexdigest() == sha256, "the resumed download differs from the stored object"
        r = http.get(url, headers={"Range": f"bytes={size}-"})
        assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{size}", (r.status_code, r.headers)


def measure(work: Path, datamap: Path, size: int, runs: int) -> tuple[list[float], list[float]]:
    """MB/s (10^6 bytes) of full downloads and of resumes of the second half."""
    with served(work, datamap, ["files:manage"], env_extra=CLEAR) as http:  # the server signs with the same SECRET
        url, sha256 = store(work / "state", str(http.base_url).rstrip("/"), size)
        verify(url, size, sha256)
        full, resumed = [], []
        curl(url)  # warm-up (page cache)
        for _ in range(runs):
            status, got, seconds = curl(url)
            assert status == 200 and got == size, (status, got)
            full.append(size / seconds / 1e6)
        half = size // 2
        for _ in range(runs):
            status, got, seconds = curl(url, half)
            assert status == 206 and got == size - half, (status, got)
            resumed.append((size - half) / seconds / 1e6)
    (work / "state" / "objects").joinpath(*KEY.split("/")).unlink(missing_ok=True)
    return full, resumed


def rows(size: int, full: list[float], resumed: list[float]) -> list[str]:
    def fmt(name: str, values: list[float]) -> str:
        return (
            f"| {name} | {statistics.median(values):.0f} MB/s | {min(values):.0f} MB/s | "
            f"{max(values):.0f} MB/s | {len(values)} |"
        )

    mb = size / 1e6
    return [
        fmt(
            f"B7 download of a {mb:,.0f} MB archive via the signed /files link (curl, loopback, stored in clear)", full
        ),
        fmt(f"B7 resume of its second half ({mb / 2:,.0f} MB, `Range: bytes=N-`, 206)", resumed),
    ]


def scenario(work: Path, datamap: Path, quick: bool) -> list[str]:
    size = (16 if quick else 1024) * BLOCK
    full, resumed = measure(work, datamap, size, 1 if quick else 5)
    return rows(size, full, resumed)


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.download")
    ap.add_argument("--size-mb", type=int, default=1024, help="MiB")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    from dsar.demo.generate import build_demo

    work = Path(tempfile.mkdtemp(prefix="dsar-bench-download-"))
    info = build_demo(work / "demo", customers=100)
    size = args.size_mb * BLOCK
    full, resumed = measure(work, info.datamap, size, args.runs)
    print(f"\n{os.cpu_count()} cores\n| figure | median | min | max | n |\n|---|---|---|---|---|")
    print("\n".join(rows(size, full, resumed)))


if __name__ == "__main__":
    main()
