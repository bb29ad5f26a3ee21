"""Allocation results not yet checked against NULL on a path of a function, and where they are used."""

from __future__ import annotations

from dataclasses import dataclass

from kalloclint.analysis.cfg import Cfg, Node
from kalloclint.analysis.dataflow import solve_forward
from kalloclint.analysis.pointers import (NOT_TESTED, address_taken, decide, edge_possible, fact_of, key_of,
                                          loop_variables, nonnull_when, under, with_fact)
from kalloclint.frontend.facts import Call, Expr
from kalloclint.model import Model
from kalloclint.source import Span

# (place key, start of the allocating call, what the path knows about locals since: after `if (!p)
# ret = -ENOMEM;`, the edge of `if (ret) goto out;` where ret is zero is not one where p is NULL)
State = frozenset


@dataclass(frozen=True, slots=True)
class UncheckedUse:
    """The first use of an allocation's result on a path where it was not checked against NULL."""

    span: Span
    key: str
    allocation: Call


class _Nullness:
    def __init__(self, model: Model, allocations: dict[int, Call]):
        self.model = model
        self.api = model.lifetimes
        self.allocations = allocations  # the calls whose results are followed, by start
        self.uses: dict[int, UncheckedUse] | None = None  # allocation start -> first unchecked use

    def node(self, node: Node, state: State) -> State:
        for name in loop_variables(node):
            state = _forget(state, name)
        for event in node.events:
            if event.kind == "deref" and not event.deref.conditional:
                self.use(state, event.deref.base, event.deref.span)
            elif event.kind == "store":
                store = event.store
                target, source = key_of(store.target), key_of(store.value)
                copied = {(target, s, e) for k, s, e in state if k == source} if target is not None else set()
                state = _learn(_forget(state, target) | copied, target, fact_of(store.value, self.api))
            elif event.kind == "call":
                state = self.call(event.call, state)
        return state

    def call(self, call: Call, state: State) -> State:
        model = self.model
        fill, copy = model.fills.get(call.name), model.copies.get(call.name)
        for position in (fill.ptr,) if fill else (copy.dst, copy.src) if copy else ():
            key = key_of(call.args[position]) if position < len(call.args) else None
            if key is not None:
                self.use(state, key, call.span)
        if call.name in self.api.asserts and call.args:
            state = self.checked(state, call.args[0], False)
        for arg in call.args:
            taken = address_taken(arg)
            if taken is not None or call.name in self.api.reassigns:
                state = _forget(state, taken or key_of(arg))
        if call.target is not None and call.use in ("assign", "init"):
            key = key_of(call.target)
            state = _learn(_forget(state, key), key, "nonzero" if call.name in self.api.error_codes else None)
            if key is not None and call.span.start in self.allocations:
                state = state | {(key, call.span.start, frozenset())}
        return state

    def use(self, state: State, key: str, span: Span) -> None:
        if self.uses is None:
            return
        for k, start, _ in state:
            seen = self.uses.get(start)
            if k == key and (seen is None or span.start < seen.span.start):
                self.uses[start] = UncheckedUse(span, key, self.allocations[start])

    def checked(self, state: State, cond: Expr, outcome: bool) -> State:
        """The state on the edge where `cond` has `outcome`: a place shown non-NULL there is checked,
        and so is every other place holding the same allocation."""
        done = set()
        for key in {k for k, _, _ in state}:
            shows = nonnull_when(cond, key, self.api)
            if shows is not NOT_TESTED and (shows is None or shows == outcome):
                done |= {s for k, s, _ in state if k == key}
        return frozenset(e for e in state if e[1] not in done and decide(cond, e[2], self.api) in (None, outcome))

    def along(self, node: Node, polarity: bool | None, state: State) -> State | None:
        if not edge_possible(node, polarity):
            return None
        if polarity is None or node.cond is None or not state:
            return state
        return self.checked(state, node.cond, polarity)


def _learn(state: State, name: str | None, fact: str | None) -> State:
    if not state or name is None:
        return state
    return frozenset((k, s, with_fact(facts, name, fact)) for k, s, facts in state)


def _forget(state: State, key: str | None) -> State:
    if key is None or not state:
        return state
    return frozenset(e for e in state if e[0] != key and not under(e[0], key))


def unchecked_uses(cfg: Cfg, model: Model, allocations: dict[int, Call]) -> list[UncheckedUse]:
    """For each allocation (by call start) whose result may be NULL, its first use on a path where it
    was not checked: a dereference, or a memset/memcpy of it."""
    if not allocations:
        return []
    nullness = _Nullness(model, allocations)
    state_in = solve_forward(cfg, frozenset(), nullness.node, nullness.along, frozenset.union)
    nullness.uses = {}
    for node in cfg.nodes:
        if state_in[node.id] is not None:
            nullness.node(node, state_in[node.id])
    return sorted(nullness.uses.values(), key=lambda u: u.span.start)
