"""Giving memory back to the system after large work (issue 19's soak: RSS grew ~10 MB per 100,000-row
retrieval and settled 60 MB higher after 12).

The growth was not Python objects (tracemalloc saw none) but glibc's allocator: every thread that allocates
gets an arena of its own (up to 8 per core), and memory freed in an arena stays mapped to the process. A
process of dsar runs many threads (workers, the engine's readers, the API's thread pool), so each one's peak
stayed. `limit_arenas` caps the arenas (the GIL serialises most allocations anyway) and `release` returns the
free parts of every arena (`malloc_trim`). Both are no-ops where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
import time
from typing import Any

_M_ARENA_MAX = -8  # glibc's mallopt parameter
_lock = threading.Lock()
_last = 0.0


def _glibc() -> Any:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None
    except OSError:
        return None


_LIBC = _glibc()


def limit_arenas(count: int = 2) -> bool:
    """Cap glibc's malloc arenas of this process (arenas made from now on); True when it took effect."""
    return bool(_LIBC is not None and _LIBC.mallopt(_M_ARENA_MAX, count) == 1)


def release(min_interval: float = 1.0) -> bool:
    """Return freed heap memory to the system, at most once per `min_interval` seconds per process."""
    global _last
    if _LIBC is None:
        return False
    with _lock:
        now = time.monotonic()
        if now - _last < min_interval:
            return False
        _last = now
    _LIBC.malloc_trim(0)
    return True
