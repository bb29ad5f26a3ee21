"""Memory freed on some path of a function and used again: dereferences and second frees after a free."""

from __future__ import annotations

from dataclasses import dataclass

from kalloclint.analysis.cfg import Cfg, Node
from kalloclint.analysis.dataflow import solve_forward
from kalloclint.analysis.pointers import (address_taken, decide, edge_possible, fact_of, is_weak, key_of,
                                          loop_variables, tested_facts, under, unwrap, with_fact)
from kalloclint.frontend.facts import Call
from kalloclint.model import Model
from kalloclint.source import Span

# (place key, start of the free call, what the path knows about locals since then: a free under
# `if (err)` does not reach code under `if (!err)`, nor a loop test `while (state != 0)` after `state = 0`)
State = frozenset


@dataclass(frozen=True, slots=True)
class FreedUse:
    """A use of freed memory: `kind` "deref" (an access, or a memset/memcpy of it) or "free" (a second
    free), where, the place, and the free that came first on some path."""

    kind: str
    span: Span
    key: str
    free: Call


class _Freed:
    def __init__(self, model: Model):
        self.model = model
        self.frees: dict[int, Call] = {}  # by start
        self.uses: dict[tuple[int, str], FreedUse] | None = None

    def node(self, node: Node, state: State) -> State:
        for name in loop_variables(node):
            state = _forget(state, name)
        for event in node.events:
            if event.kind == "deref":
                self.use(state, "deref", event.deref.base, event.deref.span)
            elif event.kind == "store":
                target = key_of(event.store.target)
                state = _learn(_forget(state, target), target, fact_of(event.store.value, self.model.lifetimes))
            elif event.kind == "call":
                state = self.call(node, event.call, state)
        return state

    def call(self, node: Node, call: Call, state: State) -> State:
        model = self.model
        free = model.frees.get(call.name)
        if free is not None and free.ptr < len(call.args) and not call.in_error:
            key = key_of(call.args[free.ptr])
            if key is not None and not is_weak(key):
                self.use(state, "free", key, call.span)
                self.frees[call.span.start] = call
                return _forget(state, key) | {(key, call.span.start, tested_facts(node.under))}
            return state
        fill, copy = model.fills.get(call.name), model.copies.get(call.name)
        positions = (fill.ptr,) if fill else (copy.dst, copy.src) if copy else ()
        for position in positions:
            key = key_of(call.args[position]) if position < len(call.args) else None
            if key is not None:
                self.use(state, "deref", key, call.span)
        modelled = call.name in model.interesting
        for arg in call.args:
            taken = address_taken(arg)
            if taken is not None or call.name in model.lifetimes.reassigns:
                state = _forget(state, taken or key_of(arg))
            elif not modelled and unwrap(arg).kind in ("ident", "opaque"):
                base = key_of(arg)
                if base is not None:
                    state = frozenset(e for e in state if not under(e[0], base))  # the callee may reassign them
        if call.target is not None and call.use in ("assign", "init"):
            target = key_of(call.target)
            error = "nonzero" if call.name in model.lifetimes.error_codes else None
            state = _learn(_forget(state, target), target, error)
        return state

    def use(self, state: State, kind: str, key: str, span: Span) -> None:
        if self.uses is None:
            return
        first = min((start for k, start, _ in state if k == key), default=None)
        if first is not None and (span.start, kind) not in self.uses:
            self.uses[(span.start, kind)] = FreedUse(kind, span, key, self.frees[first])

    def along(self, node: Node, polarity: bool | None, state: State) -> State | None:
        """An edge that the path of a free cannot take leaves that free out."""
        if not edge_possible(node, polarity):
            return None
        if polarity is None or node.cond is None or not state:
            return state
        api = self.model.lifetimes
        return frozenset(e for e in state if decide(node.cond, e[2], api) in (None, polarity))


def _forget(state: State, key: str | None) -> State:
    if key is None or not state:
        return state
    return frozenset(e for e in state if e[0] != key and not under(e[0], key))


def _learn(state: State, name: str | None, fact: str | None) -> State:
    if not state or name is None:
        return state
    return frozenset((k, s, with_fact(facts, name, fact)) for k, s, facts in state)


def freed_uses(cfg: Cfg, model: Model) -> list[FreedUse]:
    """Dereferences and frees of places that were freed on some path before, with no store between: the
    first of each kind after each free."""
    freed = _Freed(model)
    state_in = solve_forward(cfg, frozenset(), freed.node, freed.along, frozenset.union)
    freed.uses = {}
    for node in cfg.nodes:
        if state_in[node.id] is not None:
            freed.node(node, state_in[node.id])
    first: dict[tuple[int, str, str], FreedUse] = {}
    for use in sorted(freed.uses.values(), key=lambda u: (u.span.start, u.kind)):
        first.setdefault((use.free.span.start, use.key, use.kind), use)  # later uses are the same bug
    return sorted(first.values(), key=lambda u: (u.span.start, u.kind))
