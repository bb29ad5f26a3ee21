"""Lock wrappers across files: the wrappers each file calls but another file defines.

A function that returns with a lock taken or released (`foo_grab_nic_access()` ending in
spin_lock_bh(), `foo_release_nic_access()` ending in spin_unlock_bh()) acts like the primitive at its
call sites. Within a file the lock dataflow learns this by itself; a wrapper defined in another file is
known only from that file's summary, so the files that call one are checked again with it."""

from __future__ import annotations

from collections.abc import Iterable

from kalloclint.analysis.locks import LockEffect
from kalloclint.analysis.summary import FileSummary


def foreign_lock_effects(summaries: Iterable[FileSummary]) -> dict[str, LockEffect]:
    """Wrappers callable from other files, by name: non-static functions and functions of headers,
    kept only where every definition of the name has the same effect (several configurations)."""
    found: dict[str, set[LockEffect | None]] = {}
    for summary in summaries:
        for function in summary.functions:
            if function.static and not function.path.endswith(".h"):
                continue
            found.setdefault(function.name, set()).add(function.lock_effect)
    return {name: effects.pop() for name, effects in found.items()
            if len(effects) == 1 and None not in effects}


def wrappers_called(summary: FileSummary, table: dict[str, LockEffect]) -> dict[str, LockEffect]:
    """The wrappers of `table` the file calls and does not define itself."""
    own = {f.name for f in summary.functions}
    called = {site.callee for f in summary.functions for site in f.sites}
    return {name: table[name] for name in sorted(called - own) if name in table}
