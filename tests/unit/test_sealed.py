"""The sealed-stream format (`dsar.kit.sealed`): chunks sealed in order, the last one marked final."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import BinaryIO

import pytest

from dsar.engine import spool
from dsar.kit import sealed

C = 100


def _reader(key: bytes, prefix: bytes, size: int, ciphertext: bytes) -> sealed.SealedReader:
    def source(offset: int) -> BinaryIO:
        handle = io.BytesIO(ciphertext)
        handle.seek(offset)
        return handle

    return sealed.SealedReader(key, prefix, size, source, C)


@pytest.mark.parametrize("size", [0, 1, C - 1, C, C + 1, 3 * C, 3 * C + 7])
def test_every_size_round_trips_and_reads_at_any_offset(size: int) -> None:
    key, prefix, data = sealed.new_data_key(), sealed.new_prefix(), os.urandom(size)
    chunks = list(sealed.seal(key, prefix, [data[i : i + 33] for i in range(0, size, 33)], C))
    assert len(chunks) == sealed.chunk_count(size, C)
    ciphertext = b"".join(chunks)
    assert len(ciphertext) == sealed.sealed_size(size, C)
    reader = _reader(key, prefix, size, ciphertext)
    assert reader.read() == data
    for start in range(0, size, 37):
        reader.seek(start)
        assert reader.read(150) == data[start : start + 150]


def test_a_stream_cut_at_a_chunk_border_fails_on_its_last_chunk() -> None:
    key, prefix = sealed.new_data_key(), sealed.new_prefix()
    chunks = list(sealed.seal(key, prefix, [b"x" * (3 * C)], C))
    cut = b"".join(chunks[:2])  # as if the size said two chunks: the second is not marked final
    reader = _reader(key, prefix, 2 * C, cut)
    assert reader.read(C) == b"x" * C
    with pytest.raises(sealed.Tampered, match="Chunk 1 "):
        reader.read()


def test_swapped_chunks_and_another_key_fail() -> None:
    key, prefix = sealed.new_data_key(), sealed.new_prefix()
    chunks = list(sealed.seal(key, prefix, [os.urandom(3 * C)], C))
    swapped = chunks[1] + chunks[0] + chunks[2]
    with pytest.raises(sealed.Tampered, match="Chunk 0 "):
        _reader(key, prefix, 3 * C, swapped).read()
    with pytest.raises(sealed.Tampered):
        _reader(sealed.new_data_key(), prefix, 3 * C, b"".join(chunks)).read()
    with pytest.raises(sealed.Tampered, match="ends inside"):
        _reader(key, prefix, 3 * C, b"".join(chunks)[:-1]).read()


def test_a_work_file_is_sealed_and_rolls_back_without_reusing_a_nonce(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    writer = spool.SpoolWriter(path, chunk_size=C)
    lines = [b'{"email":"jane.doe@example.com","n":%d}\n' % n for n in range(40)]
    for line in lines[:20]:
        writer.write(line)
    mark = writer.tell()
    writer.flush()
    first_key_header = path.read_bytes()[:60]
    for line in lines[20:]:  # a failed attempt's rows, dropped again
        writer.write(b"x" + line)
    writer.seek(mark)
    writer.truncate()
    writer.flush()
    assert path.read_bytes()[:60] != first_key_header  # sealed chunks dropped: a fresh data key
    for line in lines[20:]:
        writer.write(line)
    writer.close()
    assert b"jane.doe" not in path.read_bytes()
    with spool.open_spool(path, chunk_size=C) as handle:
        assert list(handle) == lines
    clear = tmp_path / "clear.jsonl"
    clear.write_bytes(b"".join(lines))
    with spool.open_spool(clear) as handle:
        assert handle.read() == b"".join(lines)
    empty = tmp_path / "empty.jsonl"
    spool.SpoolWriter(empty).close()
    with spool.open_spool(empty) as handle:
        assert handle.read() == b""
    cut = path.read_bytes()[:-1]
    path.write_bytes(cut)
    with pytest.raises(sealed.Tampered), spool.open_spool(path, chunk_size=C) as handle:
        handle.read()


@pytest.mark.parametrize("size", [0, 1, C - 1, C, C + 1, 2 * C, 2 * C + 5])
def test_a_work_file_of_any_size_reads_back_whole_or_by_lines(tmp_path: Path, size: int) -> None:
    # A work file of one chunk is opened in one go, a longer one chunk by chunk: both give the same bytes.
    data = bytes((n * 7) % 251 for n in range(size - size // 10)) + b"\n" * (size // 10)
    path = tmp_path / "rows.jsonl"
    writer = spool.SpoolWriter(path, chunk_size=C)
    writer.write(data)
    writer.close()
    with spool.open_spool(path, chunk_size=C) as handle:
        assert handle.read() == data
    with spool.open_spool(path, chunk_size=C) as handle:
        assert b"".join(handle.readlines()) == data


def test_a_changed_or_cut_work_file_does_not_open(tmp_path: Path) -> None:
    small, long = tmp_path / "small.jsonl", tmp_path / "long.jsonl"
    for path, size in ((small, C // 2), (long, C + 1)):
        writer = spool.SpoolWriter(path, chunk_size=C)
        writer.write(b"r" * size)
        writer.close()
    raw = bytearray(small.read_bytes())
    raw[-3] ^= 1  # a flipped byte of the only chunk
    small.write_bytes(bytes(raw))
    with pytest.raises(sealed.Tampered), spool.open_spool(small, chunk_size=C) as handle:
        handle.read()
    header = len(long.read_bytes()) - (C + 1) - 2 * sealed.TAG_SIZE
    long.write_bytes(long.read_bytes()[: header + C + sealed.TAG_SIZE])  # the first chunk alone: not final
    with pytest.raises(sealed.Tampered), spool.open_spool(long, chunk_size=C) as handle:
        handle.read()
