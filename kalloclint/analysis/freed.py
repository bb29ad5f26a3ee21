"""Memory freed on some path of a function and used again: dereferences and second frees after a free."""

from __future__ import annotations

from dataclasses import dataclass

from kalloclint.analysis.cfg import Cfg, Node
from kalloclint.analysis.dataflow import solve_forward
from kalloclint.analysis.pointers import (address_taken, decide, edge_possible, fact_after, guards, is_weak,
                                          join_facts, key_of, learned, loop_variables, macro_outputs,
                                          merge_entries, refine, sharper, tested_facts, under, unwrap,
                                          with_fact)
from kalloclint.frontend.facts import Call, Expr
from kalloclint.model import Model
from kalloclint.source import Span

# ((place key, start of the free call, what its path knows about locals), what the current path knows):
# a free under `if (err)` does not reach code under `if (!err)`, nor a loop test `while (state != 0)`
# after `state = 0`
State = tuple[frozenset, frozenset]


@dataclass(frozen=True, slots=True)
class FreedUse:
    """A use of freed memory: `kind` "deref" (an access, or a memset/memcpy of it) or "free" (a second
    free), where, the place, and the free that came first on some path."""

    kind: str
    span: Span
    key: str
    free: Call


class _Freed:
    def __init__(self, model: Model, constant):
        self.model = model
        self.api = model.lifetimes
        self.constant = constant
        self.frees: dict[int, Call] = {}  # by start
        self.uses: dict[tuple[int, str], FreedUse] | None = None

    def node(self, node: Node, state: State) -> State:
        for name in loop_variables(node):
            state = _forget(state, name)
        for event in node.events:
            if event.kind == "deref":
                self.use(state, "deref", event.deref.base, event.deref.span,
                         node.cond if event.deref.conditional else None)
            elif event.kind == "store":
                target, value, api = key_of(event.store.target), event.store.value, self.api
                state = _learn(_forget(state, target), target,
                               lambda f: fact_after(value, target, f, api, self.constant))
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
                entries, path = _forget(state, key)
                return entries | {(key, call.span.start, path | tested_facts(node.under))}, path
            return state
        fill, copy = model.fills.get(call.name), model.copies.get(call.name)
        positions = (fill.ptr,) if fill else (copy.dst, copy.src) if copy else ()
        for position in positions:
            key = key_of(call.args[position]) if position < len(call.args) else None
            if key is not None:
                self.use(state, "deref", key, call.span)
        for name in macro_outputs(call.args):
            state = _forget(state, name)
        modelled = call.name in model.interesting
        for arg in call.args:
            taken = address_taken(arg)
            if taken is not None or call.name in self.api.reassigns:
                state = _forget(state, taken or key_of(arg))
            elif not modelled and unwrap(arg).kind in ("ident", "opaque"):
                base = key_of(arg)
                if base is not None:  # the callee may reassign what is reached through it
                    state = frozenset(e for e in state[0] if not under(e[0], base)), state[1]
        if call.target is not None and call.use in ("assign", "init"):
            target = key_of(call.target)
            error = "nonzero" if call.name in self.api.error_codes else None
            state = _learn(_forget(state, target), target, lambda f: error)
        return state

    def use(self, state: State, kind: str, key: str, span: Span, cond: Expr | None = None) -> None:
        """Record a use of `key` if it was freed; `cond` is the condition the use sits in, when only some
        outcomes of its other parts evaluate it (`!err && p->x`)."""
        if self.uses is None:
            return
        tests = guards(cond, span) if cond is not None else []
        first = min((start for k, start, facts in state[0] if k == key and all(
            decide(test, facts, self.api, self.constant) in (None, need) for test, need in tests)), default=None)
        if first is not None and (span.start, kind) not in self.uses:
            self.uses[(span.start, kind)] = FreedUse(kind, span, key, self.frees[first])

    def along(self, node: Node, polarity: bool | None, state: State) -> State | None:
        """An edge the path of a free cannot take leaves that free out; what the edge shows is learnt."""
        if not edge_possible(node, polarity):
            return None
        if polarity is None or node.cond is None:
            return state
        api, constant = self.api, self.constant
        entries = frozenset((k, s, refined) for k, s, facts in state[0]
                            if (refined := refine(node.cond, polarity, facts, api, constant)) is not None)
        path = refine(node.cond, polarity, state[1], api, constant)
        state = entries, state[1] if path is None else path
        fact = learned(node.cond, polarity, api)
        if fact is None:
            return state
        return _learn(state, fact[0], lambda f: sharper(f, fact[0], fact[1]))


def _forget(state: State, key: str | None) -> State:
    entries, path = state
    if key is None or not entries:
        return state
    return frozenset(e for e in entries if e[0] != key and not under(e[0], key)), path


def _learn(state: State, name: str | None, fact) -> State:
    """A store or a test of a local: the current path and every freed entry learn its new value,
    `fact(what they knew)`."""
    entries, path = state
    if name is None:
        return state
    return (frozenset((k, s, with_fact(facts, name, fact(facts))) for k, s, facts in entries),
            with_fact(path, name, fact(path)))


def _join(a: State, b: State) -> State:
    return merge_entries(a[0], b[0]), join_facts(a[1], b[1])


def freed_uses(cfg: Cfg, model: Model, constant=None) -> list[FreedUse]:
    """Dereferences and frees of places that were freed on some path before, with no store between: the
    first of each kind after each free. `constant(name)` is the value of a macro or enum constant."""
    freed = _Freed(model, constant)
    state_in = solve_forward(cfg, (frozenset(), frozenset()), freed.node, freed.along, _join)
    freed.uses = {}
    for node in cfg.nodes:
        if state_in[node.id] is not None:
            freed.node(node, state_in[node.id])
    first: dict[tuple[int, str, str], FreedUse] = {}
    for use in sorted(freed.uses.values(), key=lambda u: (u.span.start, u.kind)):
        first.setdefault((use.free.span.start, use.key, use.kind), use)  # later uses are the same bug
    return sorted(first.values(), key=lambda u: (u.span.start, u.kind))
