"""Per-file summaries for the whole-tree phase: what each function does that matters across files.

Summaries are small tuples (NamedTuple) so that they cross process boundaries cheaply. They hold no facts:
only call sites to functions that may live elsewhere, direct sleeping operations, GFP_ATOMIC allocations,
handler roles and suppressions, each with the positions the findings and call chains need."""

from __future__ import annotations

import re
from typing import NamedTuple

from kalloclint.analysis.cfg import test_of
from kalloclint.analysis.conditions import Cond, called_test, dominating_edges, param_conditions
from kalloclint.analysis.gfpflow import UNKNOWN, analyse_gfp, bool_test, choose
from kalloclint.analysis.indirect import Binding, Slot, call_slot, file_bindings
from kalloclint.analysis.layout import Unknown
from kalloclint.analysis.locks import SPINNING_KINDS, LockEffect
from kalloclint.analysis.stmts import walk
from kalloclint.budget import OverBudget
from kalloclint.frontend.facts import MEMBER, Call, Expr, Function, Suppression, norm
from kalloclint.model.gfp import GfpValue
from kalloclint.source import Location, Span

_BOOL_LITERALS = {"true": True, "false": False, "1": True, "0": False}


class Place(NamedTuple):
    """A position in a file, for messages and related locations."""

    path: str
    line: int
    col: int


class Reason(NamedTuple):
    """What makes a call site atomic (message text) and where that came from."""

    text: str
    site: Place | None
    site_message: str


class Site(NamedTuple):
    """A call to a function that is not part of the kernel API model: maybe a project function."""

    callee: str
    span: Span
    location: Location
    args: tuple[str | None, ...]  # texts that may matter to the callee's summary (GFP, bool, a parameter)
    atomic: Reason | None  # the call runs in atomic context, and why
    sleepable: bool  # a mutex or semaphore is held here, and no atomic region
    after_release: bool  # runs after the function released a lock its caller holds
    guard: tuple[int, bool] | None = None  # runs only when bool parameter [0] is [1] (`if (wait) ...`)
    # runs only under a test of a parameter in a shape not followed (`if (a > b)`) or without a callback
    param_dependent: bool = False
    fields: tuple[tuple[int, str], ...] = ()  # runs only under tests of these fields of parameters
    sets: tuple[tuple[int, str], ...] = ()  # fields of the arguments this function set before the call
    conds: tuple[Cond, ...] = ()  # runs only when these tests of parameters against constants all hold
    consts: tuple[tuple[int, int | None], ...] = ()  # arguments that are constants: (position, value or None)
    slot: Slot | None = None  # a call through a function pointer in a struct field: where it is read from
    optional: bool = False  # such a call made only when the pointer is set (`if (ops->fn) ops->fn(...)`)


class Op(NamedTuple):
    """A direct operation that may sleep: `kind` is gfp (sleeping flags), vmalloc or sleeper.
    `param` / `when`: it sleeps only if the caller's argument `param` sleeps (a gfp_t parameter), or
    only when the bool parameter `when[0]` is `when[1]`."""

    code: str  # the rule that reports it directly: KAL101, KAL102 or KAL103
    text: str  # `krealloc(GFP_KERNEL)`, `msleep()`
    span: Span
    location: Location
    arg_span: Span | None  # the GFP argument, where KAL101 reports
    arg_location: Location | None
    atomic: bool  # already in an atomic region of its own function (reported there)
    after_release: bool  # runs after the function released a lock its caller holds
    param: int | None = None
    when: tuple[int, bool] | None = None
    fields: tuple[tuple[int, str], ...] = ()  # runs only under tests of these fields of parameters
    conds: tuple[Cond, ...] = ()  # sleeps only when these tests of parameters against constants all hold


class AtomicGfp(NamedTuple):
    """A non-sleeping allocation (GFP_ATOMIC, GFP_NOWAIT), for KAL106."""

    flags: str
    span: Span
    location: Location
    atomic: bool  # in an atomic region of its own function
    sleepable: bool  # a mutex or semaphore is held here


class RoleInfo(NamedTuple):
    context: str
    how: str
    place: Place | None
    no_thread: bool


class ParamUse(NamedTuple):
    """Parameter `param` (its field `field`, `->buf`, when there is one) is dereferenced before any test of
    it, at `place`, through the calls `chain` (`("strcpy",)`; empty when the function dereferences it
    itself), for KAL306 across files."""

    param: int
    place: Place
    chain: tuple[str, ...]
    field: str = ""


class HandedAlloc(NamedTuple):
    """An allocation's result handed, not yet checked, as argument `position` to `callee`, which this file
    does not define (KAL306 across files)."""

    callee: str
    position: int
    span: Span
    location: Location
    key: str  # the place holding it (`buf`, `priv->rx`)
    allocator: str
    allocated: Place
    field: str = ""  # handed inside the struct passed: `->rx` when `priv` is passed for `priv->rx`


class FunctionSummary(NamedTuple):
    name: str
    path: str
    static: bool
    location: Location
    params: tuple[str, ...]
    gfp_params: tuple[int, ...]  # positions of gfp_t parameters
    sites: tuple[Site, ...]
    ops: tuple[Op, ...]
    atomic_gfp: tuple[AtomicGfp, ...]
    lock_effect: LockEffect | None = None  # a lock wrapper: what a call to it does to the caller's locks
    indirect: tuple[Site, ...] = ()  # calls through function pointers in struct fields (Site.slot)
    derefs: tuple[ParamUse, ...] = ()  # parameters dereferenced on every path before any test of them
    handoffs: tuple[HandedAlloc, ...] = ()  # unchecked allocation results handed to functions of other files


class FileSummary(NamedTuple):
    path: str
    functions: tuple[FunctionSummary, ...]
    roles: tuple[tuple[str, RoleInfo], ...]  # (function name, role) for every registration in the file
    suppressions: tuple[Suppression, ...]
    bindings: tuple[Binding, ...] = ()  # functions stored in struct fields, for calls through those fields


def build_summary(ctx) -> FileSummary:
    """Summarise a checked file (a FileContext) for the whole-tree phase."""
    facts, model = ctx.facts, ctx.model
    gfp = model.gfp
    api = model.interesting | model.contexts.sleepers | model.contexts.noreturn
    functions = []
    # a function-like macro of the file or its headers (`#define mt76_rr(dev, ...)`) is not a call to a
    # function of that name defined elsewhere
    is_macro = ctx.is_function_macro

    effects = ctx.lock_effects()
    homes: dict[str, str] = {}  # where each struct a call or binding names is defined
    for function in facts.functions:
        params = tuple(p.name for p in function.params)
        held_of = ctx.lock_flow(function).held
        sites, ops, atomic_gfp, indirect = [], [], [], []
        guards, field_tests, cond_tests = _parameter_guards(ctx, function, params)
        stored = stored_fields(function) if function.stores else {}
        optional: set[int] | None = None  # calls through set-tested pointers, found on the first such call
        for call in function.calls:
            if call.in_error or not call.name:
                continue
            guard, param_dependent = guards.get(call.span.start, (None, False))
            conds = cond_tests.get(call.span.start, ())
            reason = ctx.atomic_reason(function, call)
            held = held_of(call)
            sleepable = reason is None and any(h.kind in ("mutex", "sem") for h in held)
            after_release = ctx.lock_flow(function).after_caller_release(call)
            location = facts.index.locate(call.span)
            op = _operation(ctx, function, call, params)
            if op is not None:
                code, text, arg, param, when, sleeping, flags = op
                if param_dependent and sleeping and when is None:
                    pass  # sleeps only under a test of the caller's arguments that is not a plain bool
                elif sleeping or param is not None or when is not None:
                    when = when if when is not None or not sleeping else guard
                    ops.append(Op(code, text, call.span, location, arg.span if arg else None,
                                  facts.index.locate(arg.span) if arg else None, reason is not None, after_release,
                                  param, when, field_tests.get(call.span.start, ()), conds if sleeping else ()))
                elif flags is not None:
                    atomic_gfp.append(AtomicGfp(flags, arg.span, facts.index.locate(arg.span), reason is not None,
                                                sleepable))
            through_field = "->" in call.name or "." in call.name
            slot = call_slot(ctx, function, call, homes) if through_field else None
            if slot is None and (through_field or call.name in api or "(" in call.name or is_macro(call.name)):
                continue
            args = site_args(call, params, gfp)
            site = Site(norm(call.name), call.span, location, args, _reason(ctx, reason), sleepable,
                        after_release, guard, param_dependent, field_tests.get(call.span.start, ()),
                        fields_set(stored, call), conds, _constant_args(ctx, function, call, args))
            if slot is None:
                sites.append(site)
            else:
                if optional is None:
                    optional = _optional_callbacks(ctx.cfg(function))
                indirect.append(site._replace(slot=slot, optional=call.span.start in optional))
        gfp_params = tuple(i for i in range(len(params)) if _is_gfp_param(function, i))
        functions.append(FunctionSummary(function.name, facts.path, function.static,
                                         facts.index.locate(function.name_span), params, gfp_params, tuple(sites),
                                         tuple(ops), tuple(atomic_gfp), effects.get(function.name),
                                         tuple(indirect), *_null_facts(ctx, function, api, is_macro)))
    roles = []
    for name, role_list in sorted(ctx.all_roles().items()):
        for role in role_list:
            place = None
            if role.site is not None:
                line, col = facts.index.position(role.site.start)
                place = Place(role.path, line, col)
            roles.append((name, RoleInfo(role.context, role.how, place, role.no_thread)))
    return FileSummary(facts.path, tuple(functions), tuple(roles), facts.suppressions, file_bindings(ctx, homes))


def _null_facts(ctx, function: Function, api: frozenset[str], is_macro) \
        -> tuple[tuple[ParamUse, ...], tuple[HandedAlloc, ...]]:
    """What KAL306 needs across files: the parameters `function` dereferences before testing them, and the
    unchecked allocation results it hands to functions defined elsewhere (only a function that passes an
    allocation's target as an argument needs the NULL analysis for that)."""
    index = ctx.facts.index
    seen_elsewhere = not function.static or ctx.facts.path.endswith(".h")  # else only its own file calls it
    derefs = tuple(ParamUse(d.param, Place(ctx.facts.path, *index.position(d.span.start)), d.chain, d.field)
                   for d in ctx.param_derefs().of(function.name).values()) if seen_elsewhere else ()
    allocators = ctx.model.allocators
    targets = {norm(c.target.text) for c in function.calls if c.name in allocators and c.target is not None}
    if not targets or not any(_hands(norm(a.text), targets) for c in function.calls if c.name not in api
                              for a in c.args):
        return derefs, ()
    own = {f.name for f in ctx.facts.functions}
    try:
        handed = ctx.lifetimes().handoffs(function)
    except OverBudget:
        return derefs, ()  # the file's lifetime analysis gave up: the other rules' summary is still wanted
    handoffs = tuple(HandedAlloc(h.call.name, h.position, h.call.span, index.locate(h.call.span), h.key,
                             h.allocation.name, Place(ctx.facts.path, *index.position(h.allocation.span.start)),
                             h.field)
                     for h in handed if h.call.name.isidentifier() and h.call.name not in own
                     and h.call.name not in api and not is_macro(h.call.name))
    return derefs, handoffs


def _hands(arg: str, targets: set[str]) -> bool:
    """Does an argument pass an allocation's target, or the struct one was stored into (`priv` for
    `priv->buf`, `&ctx` for `ctx.buf`)?"""
    owner = arg[1:] if arg.startswith("&") else arg
    return arg in targets or any(t.startswith(owner) and t[len(owner):len(owner) + 1] in ("-", ".")
                                 for t in targets) if owner else False


def _parameter_guards(ctx, function: Function, params: tuple[str, ...]) \
        -> tuple[dict[int, tuple[tuple[int, bool] | None, bool]], dict[int, tuple[tuple[int, str], ...]],
                 dict[int, tuple[Cond, ...]]]:
    """For each call reached only through tests of the function's parameters: the plain bool test it
    depends on (`if (wait)`, or `if (!wait) return;` before it), and whether something the caller does not
    spell out decides it: a test of a parameter in a shape not followed (`if (a > b)`); the absence of a
    callback the function calls when it is present (`if (ops->request) return ops->request(...);` and then a
    generic fallback, which runs only for drivers that do not provide one); a detected kernel bug
    (`if (WARN_ON(...))`); or a mode whose other branch busy-waits or spins (`if (can_sleep) msleep();
    else udelay();`, `if (portal->atomic) spin_lock(); else mutex_lock();`). Second, for each call under
    tests of fields of parameters (`if (cmd->flags & CMD_ASYNC) return ...;`): those (parameter, field).
    Third, for each call under tests of parameters against constants (`if (len > SMALL)`,
    `if (flags & ASYNC)`): those tests, which each caller's arguments may decide (with the plain bool test
    among them, when there is one)."""
    contexts = ctx.model.contexts
    cfg = ctx.cfg(function)
    out: dict[int, tuple[tuple[int, bool] | None, bool]] = {}
    field_out: dict[int, tuple[tuple[int, str], ...]] = {}
    cond_out: dict[int, tuple[Cond, ...]] = {}
    if all(node.cond is None for node in cfg.nodes):
        return out, field_out, cond_out  # straight-line code: nothing guards its calls
    tests = _branch_tests(cfg, function, params, contexts.pure)
    bug_edges = {(node.id, taken) for node in cfg.nodes
                 if (taken := called_test(node.cond, contexts.bug_checks, contexts.hints)) is not None}
    dominators = dominating_edges(cfg)
    busy_arms = {edge for node, edges in zip(cfg.nodes, dominators) if _busy(node, contexts) for edge in edges}
    # the same test written again later (`if (!(io->flags & ATOMIC)) wait_sleeping(); else wait_busy();`)
    busy_tests = {(tests[b].key, taken != tests[b].negated) for b, taken in busy_arms if tests[b] is not None}
    outcomes = _ParamOutcomes(ctx, function, params)
    # whether a pointer parameter is NULL says which object the caller has (`if (!skb) skb = alloc_skb(...)`,
    # `if (dev && !refcount_inc_not_zero(...))`), not a mode it chose: callers mostly pass objects they
    # checked, so a sleep under such a test is not taken to depend on the argument
    pointers = {i for i, p in enumerate(function.params) if p.holds_address}
    for node, edges in zip(cfg.nodes, dominators):
        calls = [e.call.span.start for e in node.events if e.kind == "call"]
        if not calls or not edges:
            continue
        guard, dependent, conds = None, False, []
        fields = sorted({f for branch, _ in edges if tests[branch] is not None for f in tests[branch].fields})
        for branch, taken in sorted(edges):
            if (branch, taken) in bug_edges or (branch, not taken) in busy_arms:
                dependent = True
            test = tests[branch]
            if test is None:
                continue
            plain_taken = taken != test.negated
            if (test.key, not plain_taken) in busy_tests:
                dependent = True
            if test.param is not None:
                if test.param in pointers:
                    dependent = True
                else:
                    guard = (test.param, plain_taken)
            elif test.callback and not plain_taken:
                dependent = True
            elif test.mentions_param:
                found = outcomes.of(cfg.nodes[branch])[0 if taken else 1]
                if found is None or any(c.param in pointers and c.value == 0 and c.op in ("==", "!=")
                                        for c in found):
                    dependent = True  # a flag or count the caller passes, in a shape not followed
                else:
                    conds.extend(found)
        if fields:
            field_out.update((start, tuple(fields)) for start in calls)
        if conds and guard is not None:
            conds.append(Cond(guard[0], "!=" if guard[1] else "==", 0))
            guard = None
        if conds:
            cond_out.update((start, tuple(sorted(set(conds)))) for start in calls)
        if guard is not None or dependent:
            out.update((start, (guard, dependent)) for start in calls)
    return out, field_out, cond_out


class _ParamOutcomes:
    """What each branch condition says about the parameters (conditions.param_conditions), worked out
    once per branch, with constants folded in the function's file."""

    def __init__(self, ctx, function: Function, params: tuple[str, ...]):
        self.ctx, self.function = ctx, function
        self.params = {name: i for i, name in enumerate(params)}
        self.found: dict[int, tuple[tuple[Cond, ...] | None, tuple[Cond, ...] | None]] = {}

    def of(self, node) -> tuple[tuple[Cond, ...] | None, tuple[Cond, ...] | None]:
        if node.id not in self.found:
            self.found[node.id] = param_conditions(node.cond, self.params, self.fold, self.ctx.is_constant,
                                                   self.ctx.model.contexts.hints)
        return self.found[node.id]

    def fold(self, expr: Expr) -> int | None:
        value = self.ctx.fold(expr, self.function)
        return None if isinstance(value, Unknown) else value.value


def _constant_args(ctx, function: Function, call: Call, kept: tuple[str | None, ...]) \
        -> tuple[tuple[int, int | None], ...]:
    """The call's arguments that are compile-time constants (`128`, `MODE_SLEEP`, `A | B`), with their
    values (None: constant, but not folded), for callees whose sleep depends on a parameter's value. An
    address (`&cfg`) or a string is not NULL: it counts as a constant not folded, so that the callee's
    `if (!cfg) cfg = kzalloc(...)` is not taken to run."""
    out = []
    for index, arg in enumerate(call.args):
        if kept[index] is not None:
            continue
        if arg.text.lstrip().startswith(("&", '"')):
            out.append((index, None))
            continue
        value = ctx.constant_value(arg, function)
        if value is not None:
            out.append((index, None if isinstance(value, Unknown) else value.value))
    return tuple(out)


def _optional_callbacks(cfg) -> set[int]:
    """The calls (by start) through a function pointer nested under a test that the pointer is set
    (`if (ring->funcs->begin_use) ring->funcs->begin_use(ring);`): some objects leave it unset."""
    return {e.call.span.start for node in cfg.nodes if node.under for e in node.events
            if e.kind == "call" and (norm(e.call.name), True) in node.under}


def stored_fields(function: Function) -> dict[str, list[tuple[int, str]]]:
    """For each local or parameter, where the function set one of its fields and which: `cmd.flags = x`,
    `p->async = true`, `struct host_cmd cmd = { .flags = flags }`."""
    out: dict[str, list[tuple[int, str]]] = {}
    for store in function.stores:
        target = norm(store.target.text)
        if target.isidentifier() and store.value.text.startswith("{"):  # designated initializer: `{.flags}`
            for name in store.value.text[1:-1].split(","):
                if name.strip():
                    out.setdefault(target, []).append((store.span.start, name.strip().lstrip(".")))
            continue
        m = MEMBER.fullmatch(target)
        if m:
            out.setdefault(m[1], []).append((store.span.start, m[2]))
    return out


def fields_set(stored: dict[str, list[tuple[int, str]]], call: Call) -> tuple[tuple[int, str], ...]:
    """Fields of the call's arguments (`&cmd`, `p`) that the function set before the call."""
    out = set()
    for index, arg in enumerate(call.args):
        text = norm(arg.text)
        name = text[1:] if text.startswith("&") else text
        for start, field_name in stored.get(name, ()):
            if start < call.span.start:
                out.add((index, field_name))
    return tuple(sorted(out))


# A name used for its value, not to reach data through it (`flags`, not `cmd->flags` or `buf[i]`); one
# pattern for every function rather than one compiled per parameter list.
_VALUE_NAME = re.compile(r"\b[A-Za-z_]\w*\b(?!->|\.|\[)")


class _Test(NamedTuple):
    """What a branch condition says about the function's parameters, worked out once per branch."""

    key: str
    negated: bool
    param: int | None  # the condition is exactly this parameter (`if (wait)`, `if (!wait)`)
    callback: bool  # it tests a callback the function also calls (`if (ops->request)`)
    mentions_param: bool  # it tests a flag or count a parameter passes (`flags & ASYNC`)
    fields: tuple[tuple[int, str], ...]  # the fields of parameters it tests (`cmd->flags`)


def _branch_tests(cfg, function: Function, params: tuple[str, ...], pure: frozenset[str]) -> list[_Test | None]:
    names = set(params)
    callbacks = {norm(c.name) for c in function.calls if "->" in c.name or "." in c.name}
    out: list[_Test | None] = []
    for node in cfg.nodes:
        test = test_of(node.cond, pure)
        if test is None:
            out.append(None)
            continue
        key, negated = test
        fields = tuple(sorted({(params.index(m[0]), m[1]) for m in MEMBER.findall(key) if m[0] in names}))
        out.append(_Test(key, negated, params.index(key) if key in names else None, key in callbacks,
                         bool(names) and not names.isdisjoint(_VALUE_NAME.findall(key)), fields))
    return out


def _busy(node, contexts) -> bool:
    """Does the node busy-wait or take a spinning lock: the non-sleeping twin of a sleep?"""
    for event in node.events:
        if event.kind != "call":
            continue
        lock = contexts.locks.get(event.call.name)
        if event.call.name in contexts.busy_waits or (
                lock is not None and lock.op == "acquire" and lock.kind in SPINNING_KINDS):
            return True
    return False


def _reason(ctx, reason) -> Reason | None:
    if reason is None:
        return None
    place = None
    if reason.site is not None:
        line, col = ctx.facts.index.position(reason.site.start)
        place = Place(reason.path, line, col)
    return Reason(reason.text, place, reason.site_message)


def _operation(ctx, function: Function, call: Call, params: tuple[str, ...]):
    """(code, text, GFP argument, gfp parameter, bool condition, sleeps, non-sleeping flags) for a call
    that allocates or sleeps, else None."""
    model = ctx.model
    gfp = model.gfp
    allocator = model.allocators.get(call.name)
    if ctx.sleeps(function, call):
        return "KAL103", f"{call.name}()", None, None, None, True, None
    if allocator is not None and allocator.sleeps == "always":
        return "KAL102", f"{call.name}()", None, None, None, True, None
    code = "KAL102" if allocator is not None and allocator.family == "kvmalloc" else "KAL101"
    found = ctx.gfp_of(function, call)
    if found is not None:
        arg, value = found
        flags = " ".join(arg.text.split())
        if gfp.may_sleep(value):
            return code, f"{call.name}({flags})", arg, None, None, True, None
        return code, f"{call.name}({flags})", arg, None, None, False, flags if gfp.nonblocking_only(value) else None
    candidates = call.args if allocator is None else call.args[allocator.gfp:allocator.gfp + 1] \
        if allocator.gfp is not None else ()
    for arg in candidates:
        index = param_index(arg, function)
        if index is not None and _is_gfp_param(function, index):
            return code, f"{call.name}({arg.text.strip()})", arg, index, None, False, None
        when = _bool_choice(ctx, function, call, arg)
        if when is not None:
            return code, f"{call.name}({arg.text.strip()})", arg, None, when, False, None
    return None


def _is_gfp_param(function: Function, index: int) -> bool:
    param = function.params[index]
    return param.type == "gfp_t" and param.pointer == 0


def _bool_choice(ctx, function: Function, call: Call, arg: Expr) -> tuple[int, bool] | None:
    """GFP flags chosen by a bool parameter, in a local (`gfp = atomic ? GFP_ATOMIC : GFP_KERNEL`, or
    assigned in the arms of `if (atomic)`) or in the argument itself: sleeps only when the parameter is
    (value)."""
    hints = ctx.model.contexts.hints
    e = arg.strip(hints)
    name = e.text.strip()
    local = name.isidentifier()
    if not (local and function.assigns) and e.kind != "conditional":
        return None
    gfp = ctx.model.gfp
    cfg = ctx.cfg(function)
    for pname, index in bool_params(function, hints, arg).items():
        outcome = {}
        for value in (True, False):
            if local:
                masks = analyse_gfp(cfg, gfp, {pname: value}, hints).values(call, name)
            else:
                chosen = gfp.evaluate(choose(e, {pname: value}, hints))
                masks = frozenset({chosen.mask}) if chosen is not None else None
            if masks is None or UNKNOWN in masks:
                break
            sleeps = {gfp.may_sleep(GfpValue(m, ())) for m in masks}
            if len(sleeps) != 1:
                break
            outcome[value] = sleeps.pop()
        if len(outcome) == 2 and outcome[True] != outcome[False]:
            return index, outcome[True]
    return None


def site_args(call: Call, params: tuple[str, ...], gfp) -> tuple[str | None, ...]:
    """Keep the argument texts a callee's summary can use: GFP expressions, bool literals, parameters."""
    out: list[str | None] = []
    for arg in call.args:
        text = " ".join(arg.text.split())
        if text in _BOOL_LITERALS or text in params or "GFP" in text:
            out.append(text)
        else:
            out.append(None)
    return tuple(out)


def bool_literal(text: str | None) -> bool | None:
    return _BOOL_LITERALS.get(text) if text is not None else None


def param_index(expr: Expr, function: Function) -> int | None:
    """The position of the parameter an argument names, if it is exactly one."""
    text = expr.strip().text.strip()
    for i, p in enumerate(function.params):
        if p.name == text:
            return i
    return None


def bool_params(function: Function, hints: frozenset[str], arg: Expr | None = None) -> dict[str, int]:
    """Parameters tested as bools somewhere in the function (`if (atomic)`), or by a conditional in a GFP
    local's value or in `arg` (`atomic ? GFP_ATOMIC : GFP_KERNEL`), by name."""
    names = {p.name: i for i, p in enumerate(function.params)}
    tests = [stmt.cond for stmt in walk(function.body) if stmt.kind == "if"]
    for value in [a.value for a in function.assigns] + ([arg] if arg is not None else []):
        tests.extend(e.children[0] for e in value.walk() if e.kind == "conditional" and e.children)
    found = {}
    for cond in tests:
        test = bool_test(cond, hints)
        if test is not None and test[0] in names:
            found[test[0]] = names[test[0]]
    return found
