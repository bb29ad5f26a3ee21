"""A time budget for one rule on one file, so that a pathological file costs a note, not a hung run."""

from __future__ import annotations

import contextlib
import signal
import threading

RULE_SECONDS = 10.0


class OverBudget(Exception):
    """Raised inside the work that ran out of time."""


@contextlib.contextmanager
def time_budget(seconds: float = RULE_SECONDS):
    """Interrupt the block after `seconds` (main thread only; elsewhere the block runs unbounded)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum, frame):
        raise OverBudget()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
