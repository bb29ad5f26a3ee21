"""Which pointer parameters, and which pointer fields of struct pointer parameters (`priv->buf`), a function
dereferences on every path before any NULL test of them, itself, through a kernel API that dereferences its
argument (strcpy, strlen...) or through another function of the file: a caller that hands one an
allocation's unchecked result, or the struct it stored one into, has the callee dereference NULL (KAL306)."""

from __future__ import annotations

from bisect import bisect_left
from typing import Callable, NamedTuple

from kalloclint.analysis.pointers import NOT_TESTED, address_taken, base_ident, key_of, nonnull_when, under
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
    """Parameter `param` (its field `field` when there is one: `->buf`, `->cfg.name`) is dereferenced at
    `span` (of the function's file), through the calls `chain` (`("strcpy",)`, `("g", "strlen")`; empty
    when the function dereferences it itself)."""

    param: int
    span: Span
    chain: tuple[str, ...] = ()
    field: str = ""


# What a function dereferences first thing: (parameter position, field or "") -> where
Derefs = dict[tuple[int, str], ParamDeref]


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
            p.holds_address for p in f.params)}
        self._lifetimes, self._is_macro = lifetimes, is_macro
        self._memo: dict[tuple[str, int], Derefs] = {}

    def of(self, name: str, depth: int = _DEPTH) -> Derefs:
        """(Parameter position, field) -> its first dereference, for the function `name` of the file."""
        key = (name, depth)
        if key not in self._memo:
            self._memo[key] = {}  # a call back into itself while being worked out finds nothing
            function = self._functions.get(name)
            if function is not None:
                self._memo[key] = first_derefs(function, self._lifetimes, (
                    lambda n: self.of(n, depth - 1)) if depth > 0 else lambda n: {}, self._is_macro)
        return self._memo[key]


def first_derefs(function: Function, lifetimes: Lifetimes, below: Callable[[str], Derefs],
                 is_macro: Callable[[str], bool]) -> Derefs:
    """The parameters, and fields of struct pointer parameters, `function` dereferences on every path
    before it tests, assigns or takes the address of them (or, for a field, hands its struct to a call,
    which may store it): statements of the body's top level are followed in order until one may leave the
    function (a return, a goto) or jump to a label. Dereferences under `&&`, `?:` or a branch are not on
    every path; neither are those after an early return."""
    params = {p.name: (i, "") for i, p in enumerate(function.params) if p.holds_address}
    if not params:
        return {}
    params.update(_fields(function, params, below))
    facts = _Facts(function)
    live = set(params)
    found: Derefs = {}
    for stmt in function.body.children if function.body.kind == "block" else ():
        if stmt.kind == "label":
            break  # reached by a goto too, with whatever the jump skipped
        region = stmt.span if stmt.kind in _SIMPLE else stmt.cond.span if stmt.kind in _TESTED_FIRST \
            and stmt.cond is not None else None
        if region is not None:
            for name, deref in sorted(_derefs_in(facts, region, params, lifetimes.derefs, below, function.name),
                                      key=lambda d: d[1].span.start):
                if name in live:
                    found[(deref.param, deref.field)] = deref
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


def _fields(function: Function, params: dict[str, tuple[int, str]], below: Callable[[str], Derefs]) \
        -> dict[str, tuple[int, str]]:
    """The fields of struct pointer parameters the function dereferences, hands to a call, or hands the
    struct to a function of the file that dereferences them (`priv->buf`: (position of priv, "->buf")): the
    places whose first dereference is wanted besides the parameters'."""
    structs = {p.name for p in function.params if p.pointer == 1 and p.type.startswith(("struct ", "union "))}
    if not structs:
        return {}
    keys = {d.base for d in function.param_derefs if d.base not in params}
    for call in function.calls:
        for position, key in enumerate(map(key_of, call.args)):
            if key in structs and call.name != function.name:
                keys |= {key + inner for at, inner in below(call.name) if at == position and inner}
            elif key is not None and key not in params:
                keys.add(key)
    out = {}
    for key in keys:
        root = base_ident(key)
        if root in structs and "[" not in key:  # an index means another element in each function
            out[key] = (params[root][0], key[len(root):])
    return out


def _derefs_in(facts: _Facts, region: Span, params: dict[str, tuple[int, str]], api: dict[str, frozenset[int]],
               below: Callable[[str], Derefs], own: str) -> list[tuple[str, ParamDeref]]:
    """Unconditional dereferences of parameters and their fields inside `region`: their own, or a call's
    that receives one (the struct, for a callee that dereferences one of its fields)."""
    out = [(d.base, ParamDeref(params[d.base][0], d.span, (), params[d.base][1]))
           for d in facts.within("derefs", region) if not d.conditional and d.base in params]
    for call in facts.within("calls", region):
        if call.in_error or call.conditional:
            continue
        for position, arg in enumerate(call.args):
            name = key_of(arg)
            if name not in params:
                continue
            param, field = params[name]
            if position in api.get(call.name, ()):
                out.append((name, ParamDeref(param, call.span, (call.name,), field)))
            elif call.name != own:
                for (at, inner), deeper in below(call.name).items():
                    if at == position and (not field or not inner) and f"{name}{inner}" in params:
                        out.append((f"{name}{inner}", ParamDeref(param, deeper.span, (call.name, *deeper.chain),
                                                                 field + inner)))
    return out


def _touched(facts: _Facts, stmt: Stmt, names: set[str], lifetimes: Lifetimes,
             is_macro: Callable[[str], bool]) -> set[str]:
    """The parameters among `names` that `stmt` tests against NULL, assigns, passes by address or hands
    to a macro (which may test it and return): after it, a dereference is not known to be unchecked."""
    out = set()
    for inner in walk(stmt):
        if inner.cond is not None:
            out |= {n for n in names if base_ident(n) in inner.cond.text
                    and nonnull_when(inner.cond, n, lifetimes) is not NOT_TESTED}
    for store in facts.within("stores", stmt.span):
        out |= _within(names, key_of(store.target))
    for call in facts.within("calls", stmt.span):
        for arg in call.args:
            taken, key = address_taken(arg), key_of(arg)
            if taken is not None:
                out |= _within(names, taken)
            elif key in names and (is_macro(call.name) or call.name.isupper()):
                out.add(key)
            if key is not None:  # the callee may store into the struct's fields
                out |= {n for n in names if under(n, key) and not under(n, key + "[")}
    return out


def _within(names: set[str], key: str | None) -> set[str]:
    """The places among `names` that changing `key` changes: itself and the fields reached through it."""
    return {n for n in names if n == key or under(n, key)} if key is not None else set()


def call_derefs(call: Call, api: dict[str, frozenset[int]], local: FileDerefs | None) -> Derefs:
    """The argument positions of `call` (and fields of them) that the callee dereferences first thing: a
    kernel API's, or a function of the file's (with the chain down to the dereference)."""
    out = {(p, ""): ParamDeref(p, call.span, (call.name,)) for p in api.get(call.name, ()) if p < len(call.args)}
    for at, deref in (local.of(call.name) if local is not None else {}).items():
        out.setdefault(at, ParamDeref(at[0], deref.span, (call.name, *deref.chain), at[1]))
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
            reached = [(g, next((d for d in g.derefs if (d.param, d.field) == (handoff.position, handoff.field)),
                                None))
                       for g in tree.resolve(handoff.callee, f.path)]
            if reached and all(d is not None for _, d in reached):
                done.add(handoff.allocated)
                yield f, handoff, *reached[0]
