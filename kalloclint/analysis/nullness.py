"""Allocation results not yet checked against NULL on a path of a function, and where they are used."""

from __future__ import annotations

from dataclasses import dataclass

from kalloclint.analysis.cfg import Cfg, Node
from kalloclint.analysis.dataflow import solve_forward
from kalloclint.analysis.derefs import Derefs, FileDerefs, ParamDeref, call_derefs
from kalloclint.analysis.pointers import (NOT_TESTED, address_taken, assigned, edge_possible, fact_after,
                                          key_of, learned, loop_variables, macro_outputs, merge_entries,
                                          nonnull_when, refine, sharper, tested_facts, under, unwrap, with_fact)
from kalloclint.analysis.stmts import walk
from kalloclint.frontend.facts import Call, Expr, Function
from kalloclint.model import Model
from kalloclint.source import Span

# (place key, start of the allocating call, what the path knows about locals since: after `if (!p)
# ret = -ENOMEM;`, the edge of `if (ret) goto out;` where ret is zero is not one where p is NULL);
# PATH, an entry of its own, is what the current path knows, which an allocation starts from
State = frozenset
PATH = ("", -1)


@dataclass(frozen=True, slots=True)
class UncheckedUse:
    """The first use of an allocation's result on a path where it was not checked against NULL."""

    span: Span
    key: str
    allocation: Call
    via: ParamDeref | None = None  # a call that hands it to a function dereferencing it (chain, where)


@dataclass(frozen=True, slots=True)
class Handoff:
    """An allocation's result handed, before any check and before any use of it seen here, to a function
    this file does not define: whether that function dereferences it is for the whole-tree phase."""

    call: Call
    position: int
    key: str
    allocation: Call
    field: str = ""  # handed inside the struct passed (`->buf` of `priv` for `priv->buf`)


class _Nullness:
    def __init__(self, model: Model, allocations: dict[int, Call], constant=None,
                 aliases: dict[str, tuple[tuple[int, Expr | None], ...]] | None = None,
                 checkers: dict[str, frozenset[int]] | None = None,
                 pointees: dict[str, str] | None = None, derefs: FileDerefs | None = None):
        self.model = model
        self.derefs = derefs  # functions of the file that dereference a parameter first thing
        self.pointees = pointees or {}  # locals that only ever hold `&place`: `*p` is that place
        self.checkers = checkers or {}  # functions of the file that test a parameter against NULL
        self.constant = constant
        self.aliases = aliases or {}  # locals set to a test: `bool ok = (p != NULL);`, see test_aliases()
        self.api = model.lifetimes
        self.allocations = allocations  # the calls whose results are followed, by start
        self.uses: dict[int, UncheckedUse] | None = None  # allocation start -> first unchecked use
        self.handoffs: list[Handoff] = []

    def node(self, node: Node, state: State) -> State:
        for name in loop_variables(node):
            state = _forget(state, name)
        for event in node.events:
            if event.kind == "deref" and not event.deref.conditional and not event.deref.address:
                self.use(state, event.deref.base, event.deref.span)
            elif event.kind == "store":
                store = event.store
                target, source = key_of(store.target), key_of(assigned(store.value))
                copied = {(target, s, e) for k, s, e in state if k == source} if target is not None else set()
                state = _learn(_forget(state, target) | copied, target,
                               lambda f: fact_after(store.value, target, f, self.api, self.constant))
            elif event.kind == "call":
                state = self.call(node, event.call, state)
        return state

    def call(self, node: Node, call: Call, state: State) -> State:
        model = self.model
        fill, copy = model.fills.get(call.name), model.copies.get(call.name)
        for position in (fill.ptr,) if fill else (copy.dst, copy.src) if copy else ():
            key = key_of(call.args[position]) if position < len(call.args) else None
            if key is not None:
                self.use(state, key, call.span)
        if state and self.uses is not None and not call.conditional:
            self.handed(call, state)
        if call.name in self.api.asserts and call.args:
            state = self.checked(state, call.args[0], False)
        position = self.api.ensures.get(call.name)
        if position is not None and position < len(call.args):  # `KUNIT_ASSERT_NOT_NULL(test, p);`
            state = self.checked(state, call.args[position], True)
        for name in macro_outputs(call.args):
            state = _forget(state, name)
        for position in self.checkers.get(call.name, ()):
            key = key_of(call.args[position]) if position < len(call.args) else None
            sites = {s for k, s, _ in state if k == key}
            state = frozenset(e for e in state if e[1] not in sites)  # the callee tests it and says so
        for arg in call.args:
            taken = address_taken(arg)
            if taken is not None or call.name in self.api.reassigns:
                state = _forget(state, taken or key_of(arg))
        if call.target is not None and call.use in ("assign", "init"):
            key = key_of(call.target)
            error = "nonzero" if call.name in self.api.error_codes else None
            state = _learn(_forget(state, key), key, lambda f: error)
            if key is not None and call.span.start in self.allocations:
                known = next((facts for k, s, facts in state if (k, s) == PATH), frozenset())
                state = state | {(key, call.span.start, known | tested_facts(node.under))}
        return state

    def use(self, state: State, key: str, span: Span, via: ParamDeref | None = None) -> None:
        if self.uses is None:
            return
        for k, start, _ in state:
            seen = self.uses.get(start)
            if k == key and (seen is None or span.start < seen.span.start):
                self.uses[start] = UncheckedUse(span, key, self.allocations[start], via)

    def handed(self, call: Call, state: State) -> None:
        """A call given an unchecked result: a use when the callee dereferences that argument first thing
        (a kernel API of [lifetimes.derefs], a function of the file), else maybe a handoff to another file."""
        derefs = call_derefs(call, self.api.derefs, self.derefs)
        never_null = self.api.never_null
        for position, arg in enumerate(call.args):
            key = key_of(arg)
            # an ERR_PTR()-returning allocator's result is tested by IS_ERR() or PTR_ERR_OR_ZERO(), not NULL
            held = frozenset(e for e in state if e[0] == key and self.allocations[e[1]].name not in never_null)
            if key is None or not held:
                continue
            if (position, "") in derefs:
                self.use(held, key, call.span, derefs[(position, "")])
            else:
                self.handoffs.extend(Handoff(call, position, key, self.allocations[s]) for _, s, _ in held)
        for position, arg in enumerate(call.args):
            self.handed_inside(call, position, arg, state, derefs)

    def handed_inside(self, call: Call, position: int, arg: Expr, state: State, derefs: Derefs) -> None:
        """`setup(priv)` or `setup(&ctx)` with `priv->buf` or `ctx.buf` holding an unchecked result: a use
        when the callee dereferences that field first thing, else maybe a handoff to another file."""
        taken = address_taken(arg)
        owner = taken if taken is not None else key_of(arg)
        if owner is None:
            return
        for key, site, _ in state:
            if not key.startswith(owner) or (key, site) == PATH or self.allocations[site].name in self.api.never_null:
                continue
            rest = key[len(owner):]
            field = ("->" + rest[1:] if rest.startswith(".") else None) if taken is not None else (
                rest if rest.startswith("->") else None)
            if field is None or "[" in field:
                continue
            held = frozenset(e for e in state if e[0] == key and e[1] == site)
            if (position, field) in derefs:
                self.use(held, key, call.span, derefs[(position, field)])
            else:
                self.handoffs.append(Handoff(call, position, key, self.allocations[site], field))

    def checked(self, state: State, cond: Expr, outcome: bool) -> State:
        """The state on the edge where `cond` has `outcome`: a place shown non-NULL there is checked,
        and so is every other place holding the same allocation."""
        done = set()
        alias = learned(cond, outcome, self.api)
        assignments = self.aliases.get(alias[0]) if alias is not None else None
        test = value_before(assignments, cond.span.start) if assignments else None
        for key in {k for k, _, _ in state}:
            shows = self.tested(cond, key)
            if shows is not NOT_TESTED and (shows is None or shows == outcome):
                done |= {s for k, s, _ in state if k == key}
            elif test is not None and nonnull_when(test, key, self.api) is (alias[1] != "0"):
                done |= {s for k, s, _ in state if k == key}
        out = set()
        for key, site, facts in state:
            refined = refine(cond, outcome, facts, self.api, self.constant)
            if refined is not None and ((key, site) == PATH or site not in done):
                out.add((key, site, refined))
        return frozenset(out)

    def tested(self, cond: Expr, key: str):
        """nonnull_when() of the place under either spelling: `*p_virt` and `t->mem[i].virt` after
        `p_virt = &t->mem[i].virt;`."""
        shows = nonnull_when(cond, key, self.api)
        if shows is not NOT_TESTED:
            return shows
        other = self.pointees.get(key[1:]) if key.startswith("*") else next(
            (f"*{name}" for name, place in self.pointees.items() if place == key), None)
        return nonnull_when(cond, other, self.api) if other is not None else NOT_TESTED

    def along(self, node: Node, polarity: bool | None, state: State) -> State | None:
        if not edge_possible(node, polarity):
            return None
        if polarity is None or node.cond is None or not state:
            return state
        state = self.checked(state, node.cond, polarity)
        fact = learned(node.cond, polarity, self.api)
        return _learn(state, fact[0], lambda f: sharper(f, fact[0], fact[1])) if fact is not None else state


def _learn(state: State, name: str | None, fact) -> State:
    """A store or a test of a local: every entry learns its new value, `fact(what it knew)`."""
    if not state or name is None:
        return state
    return frozenset((k, s, with_fact(facts, name, fact(facts))) for k, s, facts in state)


def _forget(state: State, key: str | None) -> State:
    if key is None or not state:
        return state
    return frozenset(e for e in state if e[0] != key and not under(e[0], key))


def unchecked_uses(cfg: Cfg, model: Model, allocations: dict[int, Call], constant=None,
                   aliases: dict[str, tuple[tuple[int, Expr | None], ...]] | None = None,
                   checkers: dict[str, frozenset[int]] | None = None,
                   pointees: dict[str, str] | None = None,
                   derefs: FileDerefs | None = None) -> tuple[list[UncheckedUse], list[Handoff]]:
    """For each allocation (by call start) whose result may be NULL, its first use on a path where it
    was not checked: a dereference, or a memset/memcpy of it. `aliases` are locals set to a value
    that may be a test (`bool ok = p != NULL;`), `constant(name)` the value of a macro, `checkers` the
    functions of the file that test some of their parameters against NULL (by position), `pointees` the
    locals that only ever hold the address of one place (`p_virt = &t->mem[i].virt;`), `derefs` the
    functions of the file that dereference some of their parameters before testing them. Second, the
    calls before any such use that hand the result to a function the file does not define."""
    if not allocations:
        return [], []
    nullness = _Nullness(model, allocations, constant, aliases, checkers, pointees, derefs)
    state_in = solve_forward(cfg, frozenset({(*PATH, frozenset())}), nullness.node, nullness.along, merge_entries)
    nullness.uses = {}
    for node in cfg.nodes:
        if state_in[node.id] is not None:
            nullness.node(node, state_in[node.id])
    uses = nullness.uses
    handoffs = {(h.allocation.span.start, h.call.span.start, h.position): h for h in nullness.handoffs
                if h.allocation.span.start not in uses or h.call.span.start < uses[h.allocation.span.start].span.start}
    return sorted(uses.values(), key=lambda u: u.span.start), sorted(handoffs.values(),
                                                                      key=lambda h: h.call.span.start)


def test_aliases(function: Function) -> dict[str, tuple[tuple[int, Expr | None], ...]]:
    """Locals set to an expression (`bool success = (dpp != NULL);`), with every assignment to them in
    source order (its start, and the value, or None for a call's result or a compound assignment): a test
    of the local stands for the value it was last given before the test, so `if (!success) return;` checks
    `dpp` though `success` is assigned again further down."""
    stores: dict[str, list[tuple[int, Expr | None]]] = {}
    for store in function.stores:
        target = key_of(store.target)
        if target is not None and target.isidentifier():
            value = store.value if store.value.kind != "other" else None
            stores.setdefault(target, []).append((store.span.start, value))
    for call in function.calls:
        target = key_of(call.target) if call.target is not None else None
        if target is not None and target in stores:
            stores[target].append((call.span.start, None))
    return {name: tuple(sorted(values, key=lambda v: v[0])) for name, values in stores.items()
            if any(value is not None for _, value in values)}


def value_before(assignments: tuple[tuple[int, Expr | None], ...], at: int) -> Expr | None:
    """The value a local was last given before the source position `at` (None: unknown)."""
    value = None
    for start, given in assignments:
        if start >= at:
            break
        value = given
    return value


def address_aliases(function: Function) -> dict[str, str]:
    """Locals every store to which is the address of one and the same place (`p_virt =
    &t->mem[i].virt;`, in a loop or not): `*p_virt` and that place are one place."""
    places: dict[str, set[str | None]] = {}
    for store in function.stores:
        target = key_of(store.target)
        if target is None or not target.isidentifier():
            continue
        value = unwrap(store.value)
        place = key_of(value.children[0]) if value.kind == "unary" and value.op == "&" and value.children else None
        places.setdefault(target, set()).add(place)
    for call in function.calls:  # `p = get(...)` or `get(&p)` may store anything
        for name in (key_of(call.target) if call.target is not None else None,
                     *(address_taken(a) for a in call.args)):
            if name in places:
                places[name].add(None)
    return {name: next(iter(keys)) for name, keys in places.items() if len(keys) == 1 and None not in keys}


def null_checkers(functions, api) -> dict[str, frozenset[int]]:
    """Functions that test a pointer parameter against NULL (`if (!ret) return -EINVAL;`): the caller of
    one with an unchecked pointer gets its answer back."""
    out: dict[str, frozenset[int]] = {}
    for function in functions:
        conds = [s.cond for s in walk(function.body) if s.kind in ("if", "while") and s.cond is not None]
        tested = frozenset(i for i, p in enumerate(function.params) if p.pointer and any(
            nonnull_when(c, p.name, api) is not NOT_TESTED for c in conds))
        if tested:
            out[function.name] = tested
    for _ in range(3):  # and those that hand the parameter on to one (`return init_msg(ret, ...);`)
        for function in functions:
            params = {p.name: i for i, p in enumerate(function.params) if p.pointer}
            handed = {params[a.text.strip()] for c in function.calls for i, a in enumerate(c.args)
                      if i in out.get(c.name, ()) and a.text.strip() in params}
            if handed - out.get(function.name, frozenset()):
                out[function.name] = out.get(function.name, frozenset()) | handed
    return out
