"""Which pointer parameters a function dereferences on every path before any NULL test of them, itself,
through a kernel API that dereferences its argument (strcpy, strlen...) or through another function of the
file: a caller that hands one an allocation's unchecked result has the callee dereference NULL (KAL306)."""

from __future__ import annotations

from bisect import bisect_left
from typing import Callable, NamedTuple

from kalloclint.analysis.pointers import NOT_TESTED, address_taken, key_of, nonnull_when
from kalloclint.analysis.stmts import walk
from kalloclint.frontend.facts import Call, Function, Stmt
from kalloclint.model import Lifetimes
from kalloclint.source import Span

# Statements run whole whenever control reaches them; the condition of these runs at least once.
_SIMPLE = ("expr", "decl", "return")
_TESTED_FIRST = ("if", "switch", "while")
# Levels of functions of the file followed below the one called (`f(p)` calls `g(p)`, which dereferences).
_DEPTH = 2


class ParamDeref(NamedTuple):
    """Parameter `param` is dereferenced at `span` (of the function's file), through the calls `chain`
    (`("strcpy",)`, `("g", "strlen")`; empty when the function dereferences it itself)."""

    param: int
    span: Span
    chain: tuple[str, ...] = ()


class FileDerefs:
    """Which pointer parameters each function of a file dereferences unconditionally before any test of
    them, following the file's own functions `_DEPTH` levels down; worked out on demand, for the callees
    of calls that are handed an unchecked result and for the functions other files may call. A name
    defined twice in the file (configuration variants) has none: which one runs is not known."""

    def __init__(self, functions, lifetimes: Lifetimes, is_macro: Callable[[str], bool]):
        counts: dict[str, int] = {}
        for f in functions:
            counts[f.name] = counts.get(f.name, 0) + 1
        self._functions = {f.name: f for f in functions if counts[f.name] == 1 and any(
            p.pointer or p.array is not None for p in f.params)}
        self._lifetimes, self._is_macro = lifetimes, is_macro
        self._memo: dict[tuple[str, int], dict[int, ParamDeref]] = {}

    def of(self, name: str, depth: int = _DEPTH) -> dict[int, ParamDeref]:
        """Parameter position -> its first dereference, for the function `name` of the file."""
        key = (name, depth)
        if key not in self._memo:
            self._memo[key] = {}  # a call back into itself while being worked out finds nothing
            function = self._functions.get(name)
            if function is not None:
                self._memo[key] = first_derefs(function, self._lifetimes, (
                    lambda n: self.of(n, depth - 1)) if depth > 0 else lambda n: {}, self._is_macro)
        return self._memo[key]


def first_derefs(function: Function, lifetimes: Lifetimes, below: Callable[[str], dict[int, ParamDeref]],
                 is_macro: Callable[[str], bool]) -> dict[int, ParamDeref]:
    """The parameters `function` dereferences on every path before it tests, assigns or takes the address
    of them: statements of the body's top level are followed in order until one may leave the function
    (a return, a goto) or jump to a label. Dereferences under `&&`, `?:` or a branch are not on every
    path; neither are those after an early return."""
    params = {p.name: i for i, p in enumerate(function.params) if p.pointer or p.array is not None}
    if not params:
        return {}
    facts = _Facts(function)
    live = set(params)
    found: dict[int, ParamDeref] = {}
    for stmt in function.body.children if function.body.kind == "block" else ():
        if stmt.kind == "label":
            break  # reached by a goto too, with whatever the jump skipped
        region = stmt.span if stmt.kind in _SIMPLE else stmt.cond.span if stmt.kind in _TESTED_FIRST \
            and stmt.cond is not None else None
        if region is not None:
            for name, deref in sorted(_derefs_in(facts, region, params, lifetimes.derefs, below, function.name),
                                      key=lambda d: d[1].span.start):
                if name in live:
                    found[deref.param] = deref
                    live.discard(name)
        if stmt.kind == "return" or any(s.kind in ("return", "goto") for s in walk(stmt)):
            break
        live -= _touched(facts, stmt, live, lifetimes, is_macro)
        if not live:
            break
    return found


class _Facts:
    """A function's parameter dereferences, calls and stores (each in source order), by span."""

    def __init__(self, function: Function):
        self._items = {"derefs": function.param_derefs, "calls": function.calls, "stores": function.stores}
        self._starts = {kind: [x.span.start for x in items] for kind, items in self._items.items()}

    def within(self, kind: str, region: Span) -> tuple:
        """The facts of `kind` inside `region`, found by bisection rather than a scan per statement."""
        starts = self._starts[kind]
        chosen = self._items[kind][bisect_left(starts, region.start):bisect_left(starts, region.end)]
        return tuple(x for x in chosen if x.span.end <= region.end)


def _derefs_in(facts: _Facts, region: Span, params: dict[str, int], api: dict[str, frozenset[int]],
               below: Callable[[str], dict[int, ParamDeref]], own: str) -> list[tuple[str, ParamDeref]]:
    """Unconditional dereferences of parameters inside `region`: their own, or a call's that receives one."""
    out = [(d.base, ParamDeref(params[d.base], d.span)) for d in facts.within("derefs", region)
           if not d.conditional and d.base in params]
    for call in facts.within("calls", region):
        if call.in_error or call.conditional:
            continue
        for position, arg in enumerate(call.args):
            name = key_of(arg)
            if name not in params:
                continue
            if position in api.get(call.name, ()):
                out.append((name, ParamDeref(params[name], call.span, (call.name,))))
            elif call.name != own and position in below(call.name):
                deeper = below(call.name)[position]
                out.append((name, ParamDeref(params[name], deeper.span, (call.name, *deeper.chain))))
    return out


def _touched(facts: _Facts, stmt: Stmt, names: set[str], lifetimes: Lifetimes,
             is_macro: Callable[[str], bool]) -> set[str]:
    """The parameters among `names` that `stmt` tests against NULL, assigns, passes by address or hands
    to a macro (which may test it and return): after it, a dereference is not known to be unchecked."""
    out = set()
    for inner in walk(stmt):
        if inner.cond is not None:
            out |= {n for n in names if n in inner.cond.text
                    and nonnull_when(inner.cond, n, lifetimes) is not NOT_TESTED}
    for store in facts.within("stores", stmt.span):
        if key_of(store.target) in names:
            out.add(key_of(store.target))
    for call in facts.within("calls", stmt.span):
        for arg in call.args:
            taken = address_taken(arg)
            if taken in names:
                out.add(taken)
            elif key_of(arg) in names and (is_macro(call.name) or call.name.isupper()):
                out.add(key_of(arg))
    return out


def call_derefs(call: Call, api: dict[str, frozenset[int]], local: FileDerefs | None) -> dict[int, ParamDeref]:
    """The argument positions of `call` that the callee dereferences first thing: a kernel API's, or a
    function of the file's (with the chain down to the dereference)."""
    out = {p: ParamDeref(p, call.span, (call.name,)) for p in api.get(call.name, ()) if p < len(call.args)}
    for position, deref in (local.of(call.name) if local is not None else {}).items():
        out.setdefault(position, ParamDeref(position, deref.span, (call.name, *deref.chain)))
    return out


def unchecked_handoffs(tree):
    """(caller, handoff, callee, dereference) for each allocation whose unchecked result a function hands
    to a function of another file that dereferences that parameter first thing (every definition the call
    may reach does): the first such call of each allocation."""
    for f in tree.functions:
        done = set()
        for handoff in f.handoffs:
            if handoff.allocated in done:
                continue
            reached = [(g, next((d for d in g.derefs if d.param == handoff.position), None))
                       for g in tree.resolve(handoff.callee, f.path)]
            if reached and all(d is not None for _, d in reached):
                done.add(handoff.allocated)
                yield f, handoff, *reached[0]
