"""B7: downloading a large archive over loopback through a signed `/files` link, and resuming it with Range,
stored in clear and sealed (encryption at rest, docs/encryption.md).

`python -m bench.download [--size-mb 1024] [--runs 5] [--modes clear sealed]` stores an object of that size in
the local storage of a real `dsar serve` (embedded mode), signs a link for it as the service does, and
downloads it with curl (to /dev/null: the client costs next to nothing) N times in full, then N times as a
resume of its second half (`Range: bytes=HALF-`), then N times one 1 MiB range from the middle. The server's
CPU time (user + system, /proc) over the full downloads gives its CPU seconds per GB sent. `clear` runs the
server with encryption off (the route sends the file: sendfile-like reads, ETag, If-Range); `sealed` with it
on, the default (the route decrypts the 64 KiB chunks a request covers). Before timing, one split download
(first half + resumed tail) is checked byte for byte against the stored object's SHA-256, and an
unsatisfiable range against 416.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.server import cpu_seconds, served

KEY = "privacyRequest/00000000-0000-4000-8000-000000000b07/result/data_retrieval.zip"
SECRET = "bench-secret-key-0123456789abcdef0123"
BLOCK = 1 << 20
MODES = ("clear", "sealed")


def _content(size: int) -> bytes:
    """A 1 MiB block of pseudo-random bytes (incompressible, recognisable offsets are not needed)."""
    return hashlib.shake_256(b"dsar-bench-b7").digest(min(size, BLOCK))


def store(data_dir: Path, public_url: str, size: int, sealed: bool) -> tuple[str, str]:
    """Write the object into the server's local storage (sealed or in clear); a signed link and its SHA-256."""
    from dsar.bootstrap import Container
    from dsar.config import Settings

    settings = Settings(data_dir=data_dir, secret_key=SECRET, public_url=public_url, encryption={"enabled": sealed})
    c = Container(settings, with_workers=False)
    block = _content(size)

    def chunks() -> object:
        left = size
        while left > 0:
            yield block[: min(left, len(block))]
            left -= len(block)

    try:
        stored = c.storage.put_stream(KEY, chunks(), "application/zip")  # type: ignore[arg-type]
        url = c.storage.signed_url(KEY, 3600, filename="data_retrieval.zip")
    finally:
        c.close()
    return str(url), stored.sha256


def curl(url: str, range_spec: str | None = None) -> tuple[int, int, float]:
    """(status, bytes, seconds) of one download to /dev/null."""
    args = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{time_total}"]
    if range_spec is not None:
        args += ["-H", f"Range: bytes={range_spec}"]
    status, size, seconds = subprocess.run([*args, url], check=True, capture_output=True, text=True).stdout.split()
    return int(status), int(size), float(seconds)


def verify(url: str, size: int, sha256: str) -> None:
    """First half, then the tail resumed with Range (with If-Range when the answer had an ETag): the bytes
    are the stored object."""
    digest = hashlib.sha256()
    half = size // 2
    with httpx.Client(timeout=120) as http:
        with http.stream("GET", url, headers={"Range": f"bytes=0-{half - 1}"}) as r:
            assert r.status_code == 206, r.status_code
            assert r.headers["content-range"] == f"bytes 0-{half - 1}/{size}", r.headers
            etag = r.headers.get("etag")
            for chunk in r.iter_raw(BLOCK):
                digest.update(chunk)
        resume = {"Range": f"bytes={half}-", **({"If-Range": etag} if etag else {})}
        with http.stream("GET", url, headers=resume) as r:
            assert r.status_code == 206, r.status_code
            assert r.headers["content-range"] == f"bytes {half}-{size - 1}/{size}", r.headers
            for chunk in r.iter_raw(BLOCK):
                digest.update(chunk)
        assert digest.hexdigest() == sha256, "the resumed download differs from the stored object"
        r = http.get(url, headers={"Range": f"bytes={size}-"})
        assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{size}", (r.status_code, r.headers)


@dataclass
class Figures:
    mode: str
    full: list[float]  # MB/s
    cpu_per_gb: float  # the server's CPU seconds per 10^9 bytes of full downloads
    resumed: list[float]  # MB/s
    ranged: list[float]  # ms for one 1 MiB range from the middle


def measure(work: Path, datamap: Path, size: int, runs: int, mode: str) -> Figures:
    """One server, one object (sealed or in clear): full downloads, resumes of the second half, 1 MiB ranges."""
    sealed = mode == "sealed"
    env = {"DSAR_ENCRYPTION__ENABLED": "true" if sealed else "false"}
    started: list[subprocess.Popen[bytes]] = []
    with served(work, datamap, ["files:manage"], env_extra=env, started=started) as http:  # signs with SECRET
        url, sha256 = store(work / "state", str(http.base_url).rstrip("/"), size, sealed)
        verify(url, size, sha256)
        pid = started[0].pid
        curl(url)  # warm-up (page cache)
        full = []
        cpu = cpu_seconds(pid)
        for _ in range(runs):
            status, got, seconds = curl(url)
            assert status == 200 and got == size, (status, got)
            full.append(size / seconds / 1e6)
        cpu_per_gb = (cpu_seconds(pid) - cpu) / (runs * size / 1e9)
        half = size // 2
        resumed = []
        for _ in range(runs):
            status, got, seconds = curl(url, f"{half}-")
            assert status == 206 and got == size - half, (status, got)
            resumed.append((size - half) / seconds / 1e6)
        ranged = []
        first = half + 12_345  # not on a chunk border
        for _ in range(runs):
            status, got, seconds = curl(url, f"{first}-{first + BLOCK - 1}")
            assert status == 206 and got == BLOCK, (status, got)
            ranged.append(seconds * 1000)
    for path in (work / "state" / "objects").rglob("*"):
        if path.is_file():
            path.unlink()
    return Figures(mode, full, cpu_per_gb, resumed, ranged)


def rows(size: int, figures: list[Figures]) -> list[str]:
    def fmt(name: str, values: list[float], unit: str) -> str:
        return (
            f"| {name} | {statistics.median(values):,.0f} {unit} | {min(values):,.0f} {unit} | "
            f"{max(values):,.0f} {unit} | {len(values)} |"
        )

    mb = size / 1e6
    out = []
    for f in figures:
        stored = "stored in clear" if f.mode == "clear" else "stored sealed, decrypted on the fly"
        out += [
            fmt(
                f"B7 download of a {mb:,.0f} MB archive via the signed /files link (curl, loopback, {stored})",
                f.full,
                "MB/s",
            ),
            f"| B7 {f.mode}: server CPU per GB sent in full | {f.cpu_per_gb:.2f} s | | | {len(f.full)} |",
            fmt(
                f"B7 {f.mode}: resume of its second half ({mb / 2:,.0f} MB, `Range: bytes=N-`, 206)", f.resumed, "MB/s"
            ),
            f"| B7 {f.mode}: one 1 MiB range from the middle (206) | {statistics.median(f.ranged):.1f} ms | "
            f"{min(f.ranged):.1f} ms | {max(f.ranged):.1f} ms | {len(f.ranged)} |",
        ]
    return out


def scenario(work: Path, datamap: Path, quick: bool, modes: tuple[str, ...] = MODES) -> list[str]:
    size = (16 if quick else 1024) * BLOCK
    runs = 1 if quick else 5
    return rows(size, [measure(work / mode, datamap, size, runs, mode) for mode in modes])


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.download")
    ap.add_argument("--size-mb", type=int, default=1024, help="MiB")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--modes", nargs="*", default=list(MODES), choices=MODES)
    args = ap.parse_args()
    from dsar.demo.generate import build_demo

    work = Path(tempfile.mkdtemp(prefix="dsar-bench-download-"))
    info = build_demo(work / "demo", customers=100)
    size = args.size_mb * BLOCK
    figures = [measure(work / mode, info.datamap, size, args.runs, mode) for mode in args.modes]
    print(f"\n{os.cpu_count()} cores\n| figure | median | min | max | n |\n|---|---|---|---|---|")
    print("\n".join(rows(size, figures)))


if __name__ == "__main__":
    main()
