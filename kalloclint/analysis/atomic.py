"""Why a call runs in atomic context: a held lock or disabled region, or its function's handler role."""

from __future__ import annotations

from dataclasses import dataclass

from kalloclint.analysis.locks import ATOMIC_KINDS, RAW_ATOMIC_KINDS, Held
from kalloclint.analysis.roles import Role

_LOCK_NAMES = {"spin": "spinlock", "raw_spin": "raw spinlock", "rw": "rwlock"}
_REGIONS = {
    "rcu": "an RCU read-side critical section is open",
    "preempt": "preemption is disabled",
    "irq": "interrupts are disabled",
    "bh": "bottom halves are disabled",
}
_CONTEXT_NAMES = {"hardirq": "hardirq", "softirq": "softirq", "nmi": "NMI", "atomic": "atomic"}


@dataclass(frozen=True, slots=True)
class AtomicReason:
    """What makes a call atomic, as message text, with the place that made it so."""

    text: str
    path: str
    site: object  # Span | None
    site_message: str
    nmi: bool = False


def held_reason(held: Held, line: int, path: str) -> AtomicReason:
    if held.kind in _LOCK_NAMES:
        how = "__must_hold() at" if held.primitive == "__must_hold" else "taken at"
        text = f"{_LOCK_NAMES[held.kind]} '{held.lock}' is held ({how} line {line})"
        return AtomicReason(text, path, held.site, f"{held.lock} taken here")
    primitive = held.primitive if "(" in held.primitive else f"{held.primitive}()"
    return AtomicReason(f"{_REGIONS[held.kind]} ({primitive} at line {line})", path, held.site,
                        f"{primitive} here")


def role_reason(function: str, role: Role, line: int | None) -> AtomicReason:
    where = "" if line is None else (f" (set as {role.how} at line {line})" if role.how.startswith(".")
                                     else f" (registered with {role.how} at line {line})")
    text = f"{function}() runs in {_CONTEXT_NAMES.get(role.context, role.context)} context{where}"
    return AtomicReason(text, role.path, role.site, f"{function}() registered here", nmi=role.context == "nmi")


def first_atomic(held: frozenset[Held], raw_only: bool = False) -> Held | None:
    """The atomic token taken first (by position), so that messages are stable; of the two a
    spin_lock_bh() takes, the lock rather than the softirq region it enters as well."""
    kinds = RAW_ATOMIC_KINDS if raw_only else ATOMIC_KINDS
    tokens = sorted((h for h in held if h.kind in kinds), key=lambda h: (h.site.start, not h.lock, h.kind, h.lock))
    return tokens[0] if tokens else None
