"""The streaming CSV pieces: the PUT body check and the batch's row reader."""

from __future__ import annotations

import collections
import io
import itertools
import tracemalloc
from collections.abc import Iterator

import pytest

from dsar.uploads.csvreader import CsvRows, Row, TextCheck
from dsar.uploads.errors import FileProblem


def _rows(data: bytes) -> list[Row]:
    return list(CsvRows(io.BytesIO(data)))


def test_text_check_accepts_utf8_split_across_chunks() -> None:
    data = "email\nrené@exämple.com\n".encode()
    check = TextCheck()
    for i in range(len(data)):  # one byte at a time: multi-byte characters cross chunk borders
        check.feed(data[i : i + 1])
    check.close()
    assert check.size == len(data)


@pytest.mark.parametrize(
    ("chunks", "message"),
    [
        ([b"email\n", b"a\x00b"], "NUL byte at offset 7"),
        ([b"email\nx", b"\xc3\x28"], "invalid byte sequence at offset 7"),
        ([b"email\n\xe2\x82"], "ends inside a multi-byte character"),
    ],
)
def test_text_check_refuses_binary(chunks: list[bytes], message: str) -> None:
    check = TextCheck()
    with pytest.raises(FileProblem) as info:
        for chunk in chunks:
            check.feed(chunk)
        check.close()
    assert message in info.value.reason


def test_rows_carry_the_line_they_start_on() -> None:
    data = (
        b'\xef\xbb\xbfName, EMAIL \n\nA,a@example.com\n"B\nB",b@example.com\r\nC\n"D"x,d@example.com\nE,e@example.com'
    )
    assert _rows(data) == [
        Row(3, "a@example.com"),
        Row(4, "b@example.com"),
        Row(6, None),
        Row(7, None, malformed=True),
        Row(8, "e@example.com"),
    ]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"name\nx\n", "no email column"),
        (b"\xff\xfe\x00", "not UTF-8"),
    ],
)
def test_header_problems(data: bytes, reason: str) -> None:
    with pytest.raises(FileProblem) as info:
        CsvRows(io.BytesIO(data))
    assert reason in info.value.reason


class _Generated(io.RawIOBase):
    """A large CSV produced on the fly, so the test itself holds none of it."""

    def __init__(self, rows: int) -> None:
        self._lines: Iterator[bytes] = itertools.chain(
            [b"email\n"], (f"u{i}@example.com\n".encode() for i in range(rows))
        )
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        if len(self._buf) < len(b):
            self._buf += b"".join(itertools.islice(self._lines, len(b) // 16 + 1))
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def test_rows_stream_in_constant_memory() -> None:
    """Traced (slow): 100,000 rows, a 2 MB file, read with well under 1 MB; memory does not grow with the file."""
    tracemalloc.start()
    try:
        count = sum(1 for _ in CsvRows(io.BufferedReader(_Generated(100_000))))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 100_000
    assert peak < 1024 * 1024, peak


def test_a_million_rows() -> None:
    [last] = collections.deque(CsvRows(io.BufferedReader(_Generated(1_000_000))), maxlen=1)
    assert last == Row(1_000_001, "u999999@example.com")
