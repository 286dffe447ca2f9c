"""A progress bar for long CLI commands: one line on stderr, redrawn in place, only when stderr is a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 30


class ProgressBar:
    """Draws ``stage: [#####     ]  45%  45,000/100,000`` on a terminal; does nothing when output is piped."""

    def __init__(self, stream: TextIO | None = None, *, interval: float = 0.1) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval
        self._last = 0.0
        self._drawn = False

    def __call__(self, stage: str, done: int, total: int) -> None:
        """Show ``done`` of ``total`` for ``stage`` (at most every ``interval`` seconds, and always at the end)."""
        if not self.enabled:
            return
        now = time.monotonic()
        if done < total and now - self._last < self.interval:
            return
        self._last = now
        share = done / total if total else 1.0
        filled = int(share * WIDTH)
        bar = "#" * filled + " " * (WIDTH - filled)
        self.stream.write(f"\r\x1b[K{stage}: [{bar}] {share:4.0%}  {done:,}/{total:,}")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """Clear the bar's line, so that what is printed next starts on a clean line."""
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False
