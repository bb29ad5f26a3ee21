"""What is held at each call: a forward may-dataflow of lock and atomic-region tokens over a function's CFG."""

from __future__ import annotations

from dataclasses import dataclass

from kalloclint.analysis.cfg import Cfg, Event, condition_key, guard_of
from kalloclint.analysis.dataflow import solve_forward
from kalloclint.frontend.facts import Call, Expr, norm
from kalloclint.model import Contexts
from kalloclint.source import Span

ATOMIC_KINDS = frozenset({"spin", "raw_spin", "rw", "rcu", "preempt", "irq", "bh"})
RAW_ATOMIC_KINDS = frozenset({"raw_spin", "preempt", "irq"})  # atomic even on PREEMPT_RT


@dataclass(frozen=True, slots=True)
class Held:
    """A lock or region that is held: its kind, the lock expression (normalised; "" when the region has
    no lock object), the primitive that took it, and where."""

    kind: str
    lock: str
    primitive: str
    site: Span
    under: tuple[tuple[str, bool], ...] = ()  # taken only where these conditions had these outcomes


State = frozenset[Held]


def lock_key(text: str) -> str:
    """`&priv->lock`, `&(priv->lock)` and `priv->lock` name the same lock."""
    key = norm(text)
    while key.startswith("&") or (key.startswith("(") and key.endswith(")")):
        key = key[1:-1] if key.startswith("(") else key[1:]
    return key


@dataclass(slots=True)
class LockFlow:
    """The dataflow result for one function: the state before each call and at the function's exit."""

    before: dict[int, State]  # call span start -> what is held just before that call runs
    at_exit: State

    def held(self, call: Call) -> State:
        return self.before.get(call.span.start, frozenset())


class _Transfer:
    def __init__(self, contexts: Contexts):
        self.locks = contexts.locks
        self.guards = contexts.guards

    def event(self, state: State, event: Event, under: tuple = ()) -> State:
        if event.kind == "assign":
            return state
        if event.kind == "call":
            call = event.call
            guard = guard_of(call)
            if guard is not None:
                kind = self.guards.get(guard)
                lock = call.args[0].text if call.args else ""
                return state | {Held(kind, lock_key(lock), f"guard({guard})", call.span, under)} if kind else state
            op = self.locks.get(call.name)
            if op is None or op.op == "try":
                return state
            lock = lock_key(call.args[op.arg].text) if op.arg is not None and op.arg < len(call.args) else ""
            if op.op == "acquire":
                return state | {Held(op.kind, lock, call.name, call.span, under)}
            return _release(state, op.kind, lock)
        kind = self.guards.get(event.guard)
        if kind is None:
            return state
        if event.kind == "acquire":
            return state | {Held(kind, lock_key(event.lock), f"scoped_guard({event.guard})", event.span, under)}
        return _release(state, kind, lock_key(event.lock))

    def edge(self, state: State, cond: Expr | None, polarity: bool | None, calls: list[Call]) -> State:
        """A trylock in a condition holds its lock on the edge where it succeeded; a lock taken under
        `if (c)` is not held on the edge where the same `c` is false (`if (c) lock(); ... if (c) unlock();`)."""
        if cond is None or polarity is None:
            return state
        key = condition_key(cond)
        if key is not None and any((key, not polarity) in h.under for h in state):
            state = frozenset(h for h in state if (key, not polarity) not in h.under)
        found = self.trylock(cond, polarity)
        if found is None:
            return state
        name, lock_text = found
        op = self.locks[name]
        site = next((c.span for c in calls if c.name == name), cond.span)
        return state | {Held(op.kind, lock_key(lock_text), name, site)}

    def trylock(self, cond: Expr, polarity: bool) -> tuple[str, str] | None:
        e = cond.strip()
        if e.kind == "call" and e.op in ("likely", "unlikely") and len(e.children) == 1:
            return self.trylock(e.children[0], polarity)
        if e.kind == "unary" and e.op == "!" and e.children:
            return self.trylock(e.children[0], not polarity)
        if e.kind == "binary" and e.op == "&&" and polarity:
            return self.trylock(e.children[0], True) or self.trylock(e.children[1], True)
        if e.kind == "call" and polarity:
            op = self.locks.get(e.op)
            if op is not None and op.op == "try":
                lock = e.children[op.arg].text if op.arg is not None and op.arg < len(e.children) else ""
                return e.op, lock
        return None


def _release(state: State, kind: str, lock: str) -> State:
    if not any(h.kind == kind and (h.lock == lock or not lock) for h in state):
        return state
    return frozenset(h for h in state if not (h.kind == kind and (h.lock == lock or not lock)))


def analyse_locks(cfg: Cfg, contexts: Contexts) -> LockFlow:
    """Run the dataflow to a fixpoint: union at joins, so a lock held on any path counts."""
    transfer = _Transfer(contexts)
    node_calls = [[e.call for e in n.events if e.kind == "call"] for n in cfg.nodes]

    def through(node, state: State) -> State:
        for event in node.events:
            state = transfer.event(state, event, node.under)
        return state

    def along(node, polarity, state: State) -> State:
        return transfer.edge(state, node.cond, polarity, node_calls[node.id])

    state_in = solve_forward(cfg, frozenset(), through, along, frozenset.union)
    before: dict[int, State] = {}
    for node in cfg.nodes:
        state = state_in[node.id]
        if state is None:
            continue
        for event in node.events:
            if event.kind == "call":
                before[event.call.span.start] = before.get(event.call.span.start, frozenset()) | state
            state = transfer.event(state, event, node.under)
    return LockFlow(before, state_in[cfg.exit] or frozenset())
