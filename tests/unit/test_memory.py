"""dsar.kit.memory on this machine's C library (glibc in CI): the calls take effect, and release is rate-limited."""

from __future__ import annotations

import platform

import pytest

from dsar.kit import memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's allocator only")
def test_arenas_are_capped_and_freed_heap_is_returned_at_most_once_per_interval() -> None:
    assert memory.limit_arenas(2) is True
    big = [bytearray(1 << 20) for _ in range(16)]  # 16 MiB, then freed
    del big
    memory.release(min_interval=0.0)
    assert memory.release(min_interval=3600.0) is False  # the call just before counts
