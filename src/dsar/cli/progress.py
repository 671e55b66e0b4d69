"""A progress line for long CLI work: rewritten in place on stderr when it is a terminal, silent otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 72


class ProgressLine:
    """Call it with (step, done, total); at most ~5 redraws a second, so a tight loop pays almost nothing."""

    def __init__(self, label: str, stream: TextIO | None = None, interval: float = 0.2) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.on = self.stream.isatty()
        self.interval = interval
        self._last = -float("inf")
        self._drawn = False

    def __call__(self, step: str, done: int, total: int) -> None:
        if not self.on:
            return
        now = time.monotonic()
        if now - self._last < self.interval and done < total:
            return
        self._last = now
        percent = f" ({100 * done // total}%)" if total > 0 else ""
        text = f"{self.label}: {step} {done:,}/{total:,}{percent}"[:WIDTH]
        self.stream.write("\r" + text.ljust(WIDTH))
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """Erase the line, so what is printed next starts clean."""
        if self._drawn:
            self.stream.write("\r" + " " * WIDTH + "\r")
            self.stream.flush()
            self._drawn = False
