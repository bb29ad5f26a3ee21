"""Allocation families through a file: which allocator's memory a pointer may hold where it is freed,
followed through locals, struct fields (by struct type and field, across the functions of the file), the
driver's drvdata, and wrappers that return what an allocator returned."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kalloclint.analysis.caches import CacheLeak, cache_leaks
from kalloclint.analysis.cfg import Node
from kalloclint.analysis.dataflow import solve_forward
from kalloclint.analysis.fold import CInt
from kalloclint.analysis.freed import FreedUse, freed_uses
from kalloclint.analysis.nullness import (Handoff, UncheckedUse, address_aliases, null_checkers, test_aliases,
                                          unchecked_uses)
from kalloclint.analysis.pointers import (NOT_TESTED, address_taken, assigned, base_ident, edge_possible, is_null,
                                          is_weak, key_of, loop_variables, macro_outputs, nonnull_when, place_expr,
                                          under, unwrap)
from kalloclint.analysis.stmts import walk
from kalloclint.frontend.facts import Call, Expr, Function, norm
from kalloclint.source import Span

if TYPE_CHECKING:
    from kalloclint.analysis.context import FileContext

UNKNOWN = "unknown"  # memory of no known family: a parameter, an unknown call, arithmetic
NULL = "null"  # no memory at all: NULL, an ERR_PTR()


@dataclass(frozen=True, slots=True)
class Origin:
    """One allocation: its family, the allocator called (for memory from a wrapper of this file, the
    wrapper, with the allocator inside in `via`), the call, and the function that made it."""

    family: str
    allocator: str
    site: Span
    function: str
    via: str = ""


@dataclass(frozen=True, slots=True)
class Entry:
    """What a place held when the function was entered: for a field or global, whatever the file stores
    in it; for a parameter, unknown."""

    key: str


@dataclass(frozen=True, slots=True)
class Result:
    """What a call to a function of this file returned."""

    function: str
    site: Span


@dataclass(frozen=True, slots=True)
class Narrowed:
    """What `inner` held, on the branch where an address test (`is_vmalloc_addr(p)`) said it is memory of
    `family` (positive) or is not."""

    inner: frozenset
    family: str
    positive: bool


Atom = Origin | Entry | Result | Narrowed | str
Atoms = frozenset
FieldKey = tuple[str, str]  # (struct type, field), ("<global>", name) or ("<drvdata>", pointed-to type)
State = dict  # place key -> Atoms; a place missing holds its Entry

_UNKNOWN = frozenset({UNKNOWN})
_NULL = frozenset({NULL})
_MAX_ROUNDS = 8


@dataclass(slots=True)
class FunctionFlow:
    """What the family flow of one function saw: the pointer at each free (by call start), what it
    stores into fields, globals and drvdata, what it returns, and which file-wide field each place is."""

    function: Function
    at_free: dict[int, Atoms]
    stores: list[tuple[FieldKey, Atoms, Span]]
    returns: Atoms
    fields: dict[str, FieldKey | None]


class _Families:
    """The transfer functions of the family flow of one function."""

    def __init__(self, ctx: FileContext, function: Function, local_functions: frozenset[str]):
        self.ctx = ctx
        self.model = ctx.model
        self.api = ctx.model.lifetimes
        self.function = function
        self.local_functions = local_functions
        self.flow: FunctionFlow | None = None  # set for the last pass, which records what it sees
        self.fields: dict[str, FieldKey | None] = {}
        self.read = _read_places(function, ctx.model)  # places whose value is ever needed
        self.effects: dict[int, list[tuple[str, str | None, Expr | None]]] = {}

    def node(self, node: Node, state: State) -> State:
        for name in loop_variables(node):
            state = self.assign(state, name, _UNKNOWN, None)
        for event in node.events:
            if event.kind == "call":
                state = self.call(event.call, state)
            elif event.kind == "store":
                store = event.store
                state = self.assign(state, key_of(store.target), self.value(store.value, state), store.target,
                                    store.span)
            elif event.kind == "return" and event.value is not None and self.flow is not None:
                self.flow.returns = self.flow.returns | self.value(event.value, state)
        return state

    def call(self, call: Call, state: State) -> State:
        model = self.model
        free = model.frees.get(call.name)
        if free is not None and free.ptr < len(call.args) and self.flow is not None:
            self.flow.at_free[call.span.start] = self.value(call.args[free.ptr], state)
        position = self.api.drvdata_set.get(call.name)
        if position is not None and position < len(call.args) and self.flow is not None:
            key = self.drvdata_key(call.args[position])
            if key is not None:
                self.flow.stores.append((key, self.value(call.args[position], state), call.span))
        for effect, key, target in self.call_effects(call):
            if effect == "assign":
                state = self.assign(state, key, _UNKNOWN, target, call.span)
            elif any(under(k, key) for k in state):
                state = {k: v for k, v in state.items() if not under(k, key)}  # the callee may change them
        if call.target is not None and call.use in ("assign", "init"):
            state = self.assign(state, key_of(call.target), self.returned(call.name, call.span, call.target),
                                call.target, call.span)
        return state

    def call_effects(self, call: Call) -> list[tuple[str, str | None, Expr | None]]:
        """What a call may do to places: assign those whose address it gets (and swap()'s arguments),
        and change the fields of an object it gets (("forget", base))."""
        effects = self.effects.get(call.span.start)
        if effects is None:
            effects = self.effects[call.span.start] = []
            modelled = call.name in self.model.interesting or call.name in self.api.drvdata_set
            effects.extend(("assign", name, None) for name in macro_outputs(call.args))
            for arg in call.args:
                taken = address_taken(arg)
                if taken is not None:
                    inner = unwrap(arg)
                    effects.append(("assign", taken, inner.children[0] if inner.children else
                                    place_expr(Expr("opaque", inner.text.strip()[1:], inner.span))))
                elif call.name in self.api.reassigns:
                    effects.append(("assign", key_of(arg), arg))
                elif not modelled:
                    key = key_of(arg)
                    if key is not None:
                        effects.append(("forget", key, None))
        return effects

    def returned(self, name: str, site: Span, target: Expr | None = None) -> Atoms:
        """What a call to `name` at `site` returns."""
        allocator = self.model.allocators.get(name)
        if allocator is not None:
            return frozenset({Origin(allocator.family, name, site, self.function.name)})
        if name in self.local_functions:
            return frozenset({Result(name, site)})
        if name in self.api.error_pointers:
            return _NULL
        if name in self.api.drvdata_get and target is not None:
            key = self.drvdata_key(target)
            if key is not None:
                place = f"<drvdata {key[1]}>"
                self.fields[place] = key
                return frozenset({Entry(place)})
        return _UNKNOWN

    def value(self, expr: Expr, state: State) -> Atoms:
        e = unwrap(assigned(expr))
        if is_null(e):
            return _NULL
        if e.kind == "conditional" and len(e.children) == 3:
            return self.value(e.children[1], state) | self.value(e.children[2], state)
        if e.kind == "call":
            return self.returned(e.op, e.span)
        key = key_of(e)
        if key is None:
            return _UNKNOWN
        if key not in self.fields:
            self.fields[key] = self.field_key(e)
        return state.get(key) or frozenset({Entry(key)})

    def assign(self, state: State, key: str | None, atoms: Atoms, target: Expr | None, span: Span | None = None
               ) -> State:
        if key is None:
            return state
        if key not in self.fields and target is not None:
            self.fields[key] = self.field_key(target)
        new = {k: v for k, v in state.items() if not under(k, key)}
        if key in self.read:
            new[key] = (state.get(key) or frozenset({Entry(key)})) | atoms if is_weak(key) else atoms
        else:
            new.pop(key, None)
        field = self.fields.get(key)
        if field is not None and self.flow is not None and span is not None:
            self.flow.stores.append((field, atoms, span))
        return new

    def field_key(self, expr: Expr) -> FieldKey | None:
        """The file-wide field a place is: (struct type, field) for `x->f` and `x.f` of a declared x,
        ("<global>", name) for a variable that is not a local or parameter."""
        e = unwrap(place_expr(expr))
        if e.kind == "ident":
            return ("<global>", e.text) if self.function.decl(e.text) is None else None
        if e.kind == "subscript" and e.children:
            inner = self.field_key(e.children[0])
            return (inner[0], inner[1] + "[]") if inner is not None else None
        if e.kind != "field" or not e.children:
            return None
        owner = self.ctx.type_of(e.children[0], self.function)
        arrow = e.op.startswith("->")
        if owner is None or owner.pointer != (1 if arrow else 0) or (owner.array and arrow):
            return None
        return owner.base, e.op[2:] if arrow else e.op[1:]

    def drvdata_key(self, expr: Expr) -> FieldKey | None:
        """drvdata is keyed by the type it points to: `struct foo_priv *` stored, `struct foo_priv *` read."""
        ctype = self.ctx.type_of(place_expr(expr), self.function)
        if ctype is None or ctype.pointer != 1 or ctype.base == "void":
            return None
        return "<drvdata>", ctype.base


def _restores(field: FieldKey, atoms: Atoms, flow: FunctionFlow) -> bool:
    """`old = f->buf; f->buf = kfib; ... f->buf = old;`: the field gets back what it held before, memory
    the file did not allocate (other files store into the same struct)."""
    return any(isinstance(a, Entry) and flow.fields.get(a.key) == field for a in atoms)


def _read_places(function: Function, model) -> frozenset[str]:
    """The places whose value the flow reads: freed pointers, stored values, returned values, drvdata."""
    values: list[Expr] = [s.value for s in function.stores]
    for call in function.calls:
        free = model.frees.get(call.name)
        position = free.ptr if free is not None else model.lifetimes.drvdata_set.get(call.name)
        if position is not None and position < len(call.args):
            values.append(call.args[position])
    values.extend(s.cond for s in walk(function.body) if s.kind == "return" and s.cond is not None)
    out = set()
    for value in values:
        e = unwrap(value)
        branches = e.children[1:] if e.kind == "conditional" else (e,)
        out.update(k for k in map(key_of, branches) if k is not None)
    return frozenset(out)


def address_test(cond: Expr, api) -> tuple[str, str, bool] | None:
    """`is_vmalloc_addr(p)` (or its negation): the place, the family it tests, and the outcome of the
    condition that means "is of that family"."""
    e, outcome = unwrap(cond), True
    while True:
        if e.kind == "unary" and e.op == "!" and e.children:
            e, outcome = unwrap(e.children[0]), not outcome
        elif e.kind == "call" and e.op in api.transparent and e.children:
            e = unwrap(e.children[0])
        else:
            break
    family = api.address_tests.get(e.op) if e.kind == "call" else None
    key = key_of(e.children[0]) if family is not None and e.children else None
    return (key, family, outcome) if key is not None else None


def narrow(origins: frozenset, family: str, positive: bool, families) -> frozenset:
    """Origins on a branch of an address test: kvmalloc memory where is_vmalloc_addr() is true is vmalloc
    memory, and kmalloc memory where it is false; kmalloc memory cannot be where it is true."""
    out = set()
    for o in origins:
        if not isinstance(o, Origin):
            out.add(o)
            continue
        parts = families[o.family].parts
        if family in parts:
            rest = [p for p in parts if p != family]
            relabel = family if positive else (rest[0] if len(rest) == 1 else None)
            out.add(Origin(relabel, o.allocator, o.site, o.function, o.via) if relabel else o)
        elif (o.family == family) == positive:
            out.add(o)
    return frozenset(out)


def join(a: State, b: State) -> State:
    """Union per place; a place assigned on one side only keeps, from the other, what it held on entry."""
    out = {}
    for key in a.keys() | b.keys():
        out[key] = (a.get(key) or frozenset({Entry(key)})) | (b.get(key) or frozenset({Entry(key)}))
    return out


def function_flow(ctx: FileContext, function: Function, local_functions: frozenset[str]) -> FunctionFlow:
    """Run the family flow of one function to its fixpoint, then record what it sees on a last pass."""
    cfg = ctx.cfg(function)
    families = _Families(ctx, function, local_functions)

    def along(node: Node, polarity: bool | None, state: State) -> State | None:
        if not edge_possible(node, polarity):
            return None
        test = address_test(node.cond, ctx.model.lifetimes) if polarity is not None and node.cond else None
        if test is None or test[0] not in families.read:
            return state
        key, family, outcome = test
        narrowed = dict(state)
        held = state.get(key) or frozenset({Entry(key)})
        # a second test of the same family replaces the first, so that loops do not nest them
        inner = frozenset(x for a in held for x in (a.inner if isinstance(a, Narrowed) and a.family == family
                                                   else (a,)))
        narrowed[key] = frozenset({Narrowed(inner, family, outcome == polarity)})
        return narrowed

    state_in = solve_forward(cfg, {}, families.node, along, join)
    flow = FunctionFlow(function, {}, [], frozenset(), families.fields)
    families.flow = flow
    for node in cfg.nodes:
        if state_in[node.id] is not None:
            families.node(node, state_in[node.id])
    return flow


class FileLifetimes:
    """The family flow of the functions of a file that free memory, and of those that store into the
    fields, globals and drvdata the freed pointers come from (or return it), solved across functions."""

    def __init__(self, ctx: FileContext):
        self.ctx = ctx
        functions = parsed_functions(ctx.facts.functions)
        self.functions = functions
        self.parsed = frozenset(f.span.start for f in functions)
        local_functions = frozenset(f.name for f in functions)
        frees = ctx.model.frees
        self.flows: dict[int, FunctionFlow] = {}
        pending = [f for f in functions if any(c.name in frees for c in f.calls)]
        written: dict[int, tuple[frozenset[str], bool]] = {}
        while pending:
            for function in pending:
                self.flows[function.span.start] = function_flow(ctx, function, local_functions)
            fields, wrappers = self._needs()
            members = {name.removesuffix("[]") for owner, name in fields if owner != "<drvdata>"}
            drvdata = any(owner == "<drvdata>" for owner, _ in fields)
            pending = []
            for f in functions:
                if f.span.start in self.flows:
                    continue
                if f.span.start not in written:
                    written[f.span.start] = _written(f, ctx.model.lifetimes)
                names, sets_drvdata = written[f.span.start]
                if f.name in wrappers or names & members or drvdata and sets_drvdata:
                    pending.append(f)
        self.stored: frozenset[FieldKey] = frozenset(k for flow in self.flows.values() for k, _, _ in flow.stores)
        self.fields: dict[FieldKey, frozenset] = {}
        self.returns: dict[str, frozenset] = {}
        self._resolved: dict[tuple[int, Atoms], frozenset] | None = None
        self._solve()
        self._resolved = {}  # the tables are final: answers can be kept
        self._freed: dict[tuple[int, int], frozenset] = {}
        self._calls: dict[int, tuple[Function, Call]] | None = None
        self._destroyers: dict[str, frozenset[str]] | None = None
        self._constants: dict[str, int | None] = {}
        self._checkers: dict[str, frozenset[int]] | None = None
        self._unchecked_of: dict[int, tuple[list[UncheckedUse], list[Handoff]]] = {}

    def _needs(self) -> tuple[set[FieldKey], set[str]]:
        """The fields and the functions of the file whose values the analysed functions read."""
        fields: set[FieldKey] = set()
        wrappers: set[str] = set()
        seen: set[int] = set()  # a group shared by many atoms is walked once (megaraid_sas: minutes otherwise)
        for flow in self.flows.values():
            groups = list(flow.at_free.values()) + [atoms for _, atoms, _ in flow.stores] + [flow.returns]
            while groups:
                group = groups.pop()
                if id(group) in seen:
                    continue
                seen.add(id(group))
                for atom in group:
                    if isinstance(atom, Narrowed) and id(atom.inner) not in seen:
                        groups.append(atom.inner)
                    if isinstance(atom, Entry):
                        field = flow.fields.get(atom.key)
                        if field is not None:
                            fields.add(field)
                    elif isinstance(atom, Result):
                        wrappers.add(atom.function)
        return fields, wrappers

    def _solve(self) -> None:
        """Fields and wrappers' results, to a fixpoint: what a field holds may come from another field."""
        for _ in range(_MAX_ROUNDS):
            changed = False
            for flow in self.flows.values():
                for key, atoms, _ in flow.stores:
                    old = self.fields.get(key, frozenset())
                    new = old | (_UNKNOWN if _restores(key, atoms, flow) else self.resolve(atoms, flow))
                    if new != old:
                        self.fields[key] = new
                        changed = True
                if flow.returns:
                    name = flow.function.name
                    old = self.returns.get(name, frozenset())
                    new = old | self.resolve(flow.returns, flow)
                    if new != old:
                        self.returns[name] = new
                        changed = True
            if not changed:
                break

    def resolve(self, atoms: Atoms, flow: FunctionFlow) -> frozenset:
        """Atoms as Origins, NULL and UNKNOWN, with entries and calls of the file looked up."""
        if self._resolved is not None:
            key = (flow.function.span.start, atoms)
            if key not in self._resolved:
                self._resolved[key] = self._resolve(atoms, flow)
            return self._resolved[key]
        return self._resolve(atoms, flow)

    def _resolve(self, atoms: Atoms, flow: FunctionFlow) -> frozenset:
        out: set = set()
        for atom in atoms:
            if isinstance(atom, Entry):
                out |= self._entry(atom.key, flow)
            elif isinstance(atom, Result):
                out |= self._result(atom, flow)
            elif isinstance(atom, Narrowed):
                out |= narrow(self.resolve(atom.inner, flow), atom.family, atom.positive, self.ctx.model.families)
            else:
                out.add(atom)
        return frozenset(out)

    def _entry(self, key: str, flow: FunctionFlow) -> frozenset:
        function = flow.function
        field = flow.fields.get(key)
        if field is None:
            decl = function.decl(base_ident(key))
            if decl is not None and decl not in function.params and key == base_ident(key):
                return frozenset()  # a local before its first store: uninitialised, not memory
            return _UNKNOWN
        if field not in self.stored:
            return _UNKNOWN
        return self.fields.get(field, frozenset())

    def _result(self, result: Result, flow: FunctionFlow) -> frozenset:
        """A wrapper's result: the memory it returns, allocated at the call of the wrapper."""
        returned = self.returns.get(result.function)
        if not returned or UNKNOWN in returned:
            return _UNKNOWN
        origins = [o for o in returned if isinstance(o, Origin)]
        if not origins:
            return _UNKNOWN
        out = {Origin(o.family, result.function, result.site, flow.function.name, o.via or o.allocator)
               for o in origins}
        return frozenset(out | ({NULL} if NULL in returned else set()))

    # -- questions --------------------------------------------------------------------------------

    def freed(self, function: Function, call: Call) -> frozenset | None:
        """What the pointer given to a modelled free may hold: Origins, NULL and UNKNOWN (None when the
        function was not analysed)."""
        key = (function.span.start, call.span.start)
        if key not in self._freed:
            flow = self.flows.get(function.span.start)
            atoms = flow.at_free.get(call.span.start) if flow is not None else None
            self._freed[key] = self.resolve(atoms, flow) if atoms is not None else None
        return self._freed[key]

    def frees(self) -> list[tuple[Function, Call, frozenset]]:
        """Every modelled free of the file with what its pointer may hold."""
        frees = self.ctx.model.frees
        out = []
        for flow in self.flows.values():
            for call in flow.function.calls:
                # a call whose callee is itself a call (`kfree(p)(x)` in broken code) starts where its
                # callee does: only the modelled free recorded there counts
                if call.span.start in flow.at_free and call.name in frees:
                    out.append((flow.function, call, self.freed(flow.function, call)))
        return out

    def stored_fields(self, origin: Origin) -> set[FieldKey]:
        """The fields, globals and drvdata the memory of an allocation is stored into."""
        return {key for flow in self.flows.values() for key, atoms, _ in flow.stores
                if origin in self.resolve(atoms, flow)}

    def allocation(self, origin: Origin) -> tuple[Function, Call] | None:
        """The allocating call of an Origin (the wrapper's call for memory from a wrapper)."""
        if self._calls is None:
            self._calls = {c.span.start: (f, c) for f in self.ctx.facts.functions for c in f.calls}
        return self._calls.get(origin.site.start)

    def returned(self, function_name: str) -> frozenset:
        return self.returns.get(function_name, frozenset())

    def freed_uses(self, function: Function) -> list[FreedUse]:
        """Dereferences and second frees of memory freed before on some path of the function."""
        model = self.ctx.model
        if function.span.start not in self.parsed or not any(c.name in model.frees for c in function.calls):
            return []
        return freed_uses(self.ctx.cfg(function), model, self.constant)

    def unchecked_uses(self, function: Function) -> list[UncheckedUse]:
        """Allocation results used before a NULL check on some path (`__GFP_NOFAIL` ones cannot be NULL):
        dereferenced, or handed to a function that dereferences them first thing."""
        return self._unchecked(function)[0]

    def handoffs(self, function: Function) -> list[Handoff]:
        """Unchecked allocation results handed to functions of other files (before any use seen here)."""
        return self._unchecked(function)[1]

    def _unchecked(self, function: Function) -> tuple[list[UncheckedUse], list[Handoff]]:
        found = self._unchecked_of.get(function.span.start)
        if found is not None:
            return found
        model = self.ctx.model
        allocations = {c.span.start: c for c in function.calls if c.name in model.allocators
                       and c.target is not None and c.use in ("assign", "init") and not c.in_error
                       and self.may_fail(function, c)} if function.span.start in self.parsed else {}
        handed = bool(allocations) and _handed_early(function, allocations, model)
        used = function.derefs or handed or any(c.name in model.fills or c.name in model.copies
                                                for c in function.calls)
        found = [], []
        if allocations and used:
            if self._checkers is None:
                self._checkers = null_checkers(self.functions, model.lifetimes)
            found = unchecked_uses(self.ctx.cfg(function), model, allocations, self.constant,
                                   test_aliases(function), self._checkers, address_aliases(function),
                                   self.ctx.param_derefs() if handed else None)
        self._unchecked_of[function.span.start] = found
        return found

    def constant(self, name: str) -> int | None:
        """The value of a macro or enum constant of the file (`#define DESCS_AREAS 1`), for path conditions."""
        if name not in self._constants:
            value = self.ctx.fold(Expr("ident", name, Span(0, 0))) if self.ctx.is_constant(
                Expr("ident", name, Span(0, 0))) else None
            self._constants[name] = value.value if isinstance(value, CInt) else None
        return self._constants[name]

    def cache_leaks(self, function: Function) -> list[CacheLeak]:
        """Slab caches the function creates and still holds when it returns an error value."""
        allocators = self.ctx.model.allocators
        if function.span.start not in self.parsed or not any(
                c.name in allocators and allocators[c.name].family == "slab_cache" for c in function.calls):
            return []
        return cache_leaks(self.ctx.cfg(function), self.ctx.model, frozenset(d.name for d in function.locals),
                           self.destroyers())

    def destroyers(self) -> dict[str, frozenset[str]]:
        """The global caches each function of the file destroys, itself or through the functions it calls
        (`err: foo_destroy_caches(); return -ENOMEM;`)."""
        if self._destroyers is None:
            model = self.ctx.model
            functions = self.functions
            names = {f.name for f in functions}
            out: dict[str, frozenset[str]] = {}
            for f in functions:
                frees = [(c, model.frees[c.name]) for c in f.calls if c.name in model.frees]
                keys = {key_of(c.args[free.ptr]) for c, free in frees
                        if "slab_cache" in free.families and free.ptr < len(c.args)}
                out[f.name] = out.get(f.name, frozenset()) | {k for k in keys if k and f.decl(base_ident(k)) is None}
            callees = {f.name: {c.name for c in f.calls if c.name in names} for f in functions}
            for _ in range(len(out)):
                grown = {n: keys.union(*(out[c] for c in callees[n])) for n, keys in out.items()}
                if grown == out:
                    break
                out = grown
            self._destroyers = {n: k for n, k in out.items() if k}
        return self._destroyers

    def may_fail(self, function: Function, call: Call) -> bool:
        """False for an allocation given `__GFP_NOFAIL`, which loops until it succeeds."""
        allocator = self.ctx.model.allocators[call.name]
        if allocator.gfp is None or allocator.gfp >= len(call.args):
            return True
        if "__GFP_NOFAIL" in call.args[allocator.gfp].text:
            return False
        gfp = self.ctx.gfp_of(function, call)
        return gfp is None or not gfp[1].mask & self.ctx.model.gfp.bit("__GFP_NOFAIL")


_BRANCHES = ("if", "while", "for", "do", "switch")  # statements whose condition may test a pointer


def _handed_early(function: Function, allocations: dict[int, Call], model) -> bool:
    """Is an allocation's result given to a call that may dereference it or hand it on (not kfree() and the
    like) before the first test of it after the allocation? Only then can the NULL analysis find such a
    call unchecked: most functions test first, and are spared it."""
    api = model.lifetimes
    allocated: dict[str, int] = {}
    for call in allocations.values():
        key = norm(call.target.text)
        allocated[key] = min(allocated.get(key, call.span.start), call.span.start)
    tested: dict[str, int] = {}
    for stmt in walk(function.body):
        if stmt.cond is None or stmt.kind not in _BRANCHES:
            continue
        for key, start in allocated.items():
            if stmt.cond.span.start > start and key in norm(stmt.cond.text) \
                    and nonnull_when(stmt.cond, key, api) is not NOT_TESTED:
                tested[key] = min(tested.get(key, stmt.cond.span.start), stmt.cond.span.start)
    for call in function.calls:
        if call.conditional or call.name in model.interesting and call.name not in api.derefs:
            continue
        for arg in call.args:
            for key in _held(norm(arg.text), allocated):
                if allocated[key] < call.span.start <= tested.get(key, function.span.end):
                    return True
    return False


def _held(arg: str, allocated: dict[str, int]) -> list[str]:
    """The allocated places an argument hands on: itself, or the fields of the struct it points to
    (`priv` hands `priv->buf`, `&ctx` hands `ctx.buf`)."""
    if arg in allocated:
        return [arg]
    owner = arg[1:] if arg.startswith("&") else arg
    return [k for k in allocated if under(k, owner) and k[len(owner)] != "["] if owner else []


def _written(function: Function, api) -> tuple[frozenset[str], bool]:
    """The names of the places a function may store into (`rx` for `priv->rx = ...`, `&priv->rx`), and
    whether it sets drvdata: which functions can change a field is first decided by the field's name."""
    names = {_last_name(key_of(s.target)) for s in function.stores}
    sets_drvdata = False
    for call in function.calls:
        sets_drvdata |= call.name in api.drvdata_set
        if call.target is not None:
            names.add(_last_name(key_of(call.target)))
        for arg in call.args:
            names.add(_last_name(address_taken(arg) or (key_of(arg) if call.name in api.reassigns else None)))
    names.discard(None)
    return frozenset(names), sets_drvdata


def _last_name(key: str | None) -> str | None:
    """The field or variable a place ends in: `rx` for `priv->rx`, `bufs` for `priv->bufs[i]`."""
    if key is None:
        return None
    return re.split(r"->|\.", key.split("[", 1)[0])[-1]


def parsed_functions(functions) -> list[Function]:
    """The functions that parsed as one function each: a definition that contains others is a misparse
    (an X-macro or a stray brace swallowed the rest of the file) and is left out."""
    ordered = sorted(functions, key=lambda f: f.span.start)
    return [f for i, f in enumerate(ordered) if i + 1 == len(ordered) or ordered[i + 1].span.start >= f.span.end]


def origins_of(held: frozenset | None) -> list[Origin] | None:
    """The allocations a freed pointer may hold, in source order; None when it may also hold memory of
    no known family (then nothing can be said about it)."""
    if held is None or UNKNOWN in held:
        return None
    origins = sorted((o for o in held if isinstance(o, Origin)), key=lambda o: (o.site.start, o.allocator))
    return origins or None


def allocated_with(origins: list[Origin], line) -> str:
    """`vzalloc() at line 118`, `foo_alloc() at line 40 (vmalloc() memory) or kmalloc() at line 52`."""
    parts = []
    for o in origins[:3]:
        via = f" ({o.via}() memory)" if o.via else ""
        parts.append(f"{o.allocator}() at line {line(o.site)}{via}")
    more = f" and {len(origins) - 3} more" if len(origins) > 3 else ""
    return " or ".join(parts) + more
