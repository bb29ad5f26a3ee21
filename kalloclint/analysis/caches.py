"""Slab caches a function creates and leaves alive when it returns an error."""

from __future__ import annotations

from dataclasses import dataclass

from kalloclint.analysis.cfg import Cfg, Node
from kalloclint.analysis.dataflow import solve_forward
from kalloclint.analysis.pointers import NOT_TESTED, address_taken, edge_possible, key_of, nonnull_when, under, unwrap
from kalloclint.frontend.facts import Call, Expr
from kalloclint.model import Model
from kalloclint.source import Span

# (caches created and not destroyed: (place, creating call start)), locals known to hold a nonzero value
State = tuple[frozenset, frozenset]


@dataclass(frozen=True, slots=True)
class CacheLeak:
    """A cache created at `creation` into `key`, still alive at the error return `exit`."""

    creation: Call
    key: str
    exit: Span


class _Caches:
    def __init__(self, model: Model, locals_: frozenset[str], destroyers: dict[str, frozenset[str]]):
        self.model = model
        self.destroyers = destroyers  # functions of the file that destroy global caches
        self.api = model.lifetimes
        self.locals = locals_
        self.creations: dict[int, Call] = {}
        self.leaks: dict[int, CacheLeak] | None = None

    def family(self, name: str) -> bool:
        allocator = self.model.allocators.get(name)
        return allocator is not None and allocator.family == "slab_cache"

    def node(self, node: Node, state: State) -> State:
        live, nonzero = state
        for event in node.events:
            if event.kind == "call":
                live, nonzero = self.call(event.call, live, nonzero)
            elif event.kind == "store":
                key = key_of(event.store.target)
                live = _forget(live, key)
                if key in self.locals:
                    nonzero = nonzero | {key} if self.is_error(event.store.value, nonzero) else nonzero - {key}
            elif event.kind == "return" and live and self.leaks is not None and event.value is not None \
                    and self.is_error(event.value, nonzero):
                for key, start in sorted(live, key=lambda e: e[1]):
                    self.leaks.setdefault(start, CacheLeak(self.creations[start], key, event.span))
        return live, nonzero

    def call(self, call: Call, live: frozenset, nonzero: frozenset) -> State:
        free = self.model.frees.get(call.name)
        if free is not None and "slab_cache" in free.families and free.ptr < len(call.args):
            return _forget(live, key_of(call.args[free.ptr])), nonzero
        for key in self.destroyers.get(call.name, ()):
            live = _forget(live, key)
        for arg in call.args:
            taken = address_taken(arg)
            live, nonzero = _forget(live, taken), nonzero - {taken}
        key = key_of(call.target) if call.target is not None and call.use in ("assign", "init") else None
        if key is None:
            return live, nonzero
        live = _forget(live, key)
        if self.family(call.name):
            self.creations[call.span.start] = call
            live = live | {(key, call.span.start)}
        nonzero = nonzero | {key} if call.name in self.api.error_codes else nonzero - {key}
        return live, nonzero

    def is_error(self, value: Expr, nonzero: frozenset) -> bool:
        """`-ENOMEM`, `PTR_ERR(x)`, or a local known to be nonzero on this path."""
        e = unwrap(value)
        if e.kind == "unary" and e.op == "-":
            return True
        if e.kind == "call":
            return e.op in self.api.error_codes
        return e.kind == "ident" and e.text in nonzero

    def along(self, node: Node, polarity: bool | None, state: State) -> State | None:
        """A failed creation (the NULL edge of its check) created nothing; `if (ret)` makes ret nonzero."""
        if not edge_possible(node, polarity):
            return None
        if polarity is None or node.cond is None:
            return state
        live, nonzero = state
        for key in {k for k, _ in live}:
            shows = nonnull_when(node.cond, key, self.api)
            if isinstance(shows, bool) and shows != polarity:
                live = _forget(live, key)
        for name in {n.text for n in node.cond.walk() if n.kind == "ident" and n.text in self.locals}:
            shows = nonnull_when(node.cond, name, self.api)
            if shows is not NOT_TESTED and shows == polarity:
                nonzero = nonzero | {name}
            elif isinstance(shows, bool):
                nonzero = nonzero - {name}
        return live, nonzero


def _forget(live: frozenset, key: str | None) -> frozenset:
    if key is None or not live:
        return live
    return frozenset(e for e in live if e[0] != key and not under(e[0], key))


def _join(a: State, b: State) -> State:
    return a[0] | b[0], a[1] & b[1]


def cache_leaks(cfg: Cfg, model: Model, locals_: frozenset[str],
                destroyers: dict[str, frozenset[str]]) -> list[CacheLeak]:
    """Caches created in the function and still alive at a return of an error value; `destroyers` are the
    functions of the file that destroy global caches, by name."""
    caches = _Caches(model, locals_, destroyers)
    state_in = solve_forward(cfg, (frozenset(), frozenset()), caches.node, caches.along, _join)
    caches.leaks = {}
    for node in cfg.nodes:
        if state_in[node.id] is not None:
            caches.node(node, state_in[node.id])
    return sorted(caches.leaks.values(), key=lambda leak: leak.creation.span.start)
