"""Progress on stderr for long runs: files done of total, rate and time left, only on a terminal."""

from __future__ import annotations

import sys
import time

_DELAY = 1.0  # runs shorter than this show nothing


class Progress:
    """A callable for engine.run(progress=...): redraws one status line, at most a few times a second."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.started = time.monotonic()
        self.drawn = 0.0
        self.shown = False

    @classmethod
    def if_terminal(cls, quiet: bool) -> Progress | None:
        return None if quiet or not sys.stderr.isatty() else cls()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        elapsed = now - self.started
        if elapsed < _DELAY or (now - self.drawn < 0.2 and done < total):
            return
        self.drawn = now
        rate = done / elapsed if elapsed > 0 else 0.0
        left = (total - done) / rate if rate > 0 else 0.0
        self.stream.write(f"\r\033[Kkalloclint: {done}/{total} files, {rate:.0f}/s, {left:.0f}s left")
        self.stream.flush()
        self.shown = True

    def finish(self) -> None:
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
