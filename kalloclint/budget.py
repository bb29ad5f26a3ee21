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
    """Interrupt the block after `seconds` of this process's CPU time (main thread only; elsewhere the
    block runs unbounded). CPU time, not wall time: on a loaded machine a file must not lose its findings
    because other processes had the processor."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum, frame):
        raise OverBudget()

    previous = signal.signal(signal.SIGVTALRM, expire)
    signal.setitimer(signal.ITIMER_VIRTUAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, previous)
