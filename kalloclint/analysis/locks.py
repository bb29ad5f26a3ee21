"""What is held at each call: a forward may-dataflow of lock and atomic-region tokens over a function's CFG."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from kalloclint.analysis.cfg import Cfg, Event, guard_of, test_of
from kalloclint.analysis.dataflow import solve_forward
from kalloclint.frontend.facts import Call, Expr, MacroEffect, norm
from kalloclint.model import Contexts, LockOp
from kalloclint.source import Span

ATOMIC_KINDS = frozenset({"spin", "raw_spin", "rw", "rcu", "preempt", "irq", "bh"})
RAW_ATOMIC_KINDS = frozenset({"raw_spin", "preempt", "irq"})  # atomic even on PREEMPT_RT
SPINNING_KINDS = frozenset({"spin", "raw_spin", "rw"})  # locks whose waiters spin rather than sleep


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
    released: frozenset[tuple[str, str]] = frozenset()  # (kind, lock) released without being taken here
    held_on_every_exit: frozenset[tuple[str, str]] = frozenset()  # (kind, lock) held however it returns

    def held(self, call: Call) -> State:
        return self.before.get(call.span.start, frozenset())

    def after_caller_release(self, call: Call) -> bool:
        """Does the call run after this function released a lock that its caller holds?"""
        return any(h.kind == RELEASED and tuple(h.lock.split(":", 1)) in self.released for h in self.held(call))


@dataclass(frozen=True, slots=True)
class LockEffect:
    """What calling a function does to the caller's locks: a lock wrapper acquires or releases like the
    primitive it wraps. Locks are (kind, parameter position or -1, rest of the lock expression)."""

    acquires: tuple[tuple[str, int, str], ...] = ()
    releases: tuple[tuple[str, int, str], ...] = ()


def lock_of(op: LockOp, args: Sequence[Expr]) -> str:
    """The lock a primitive acts on, as lock_key() spells it; "" for one that takes no lock argument."""
    return lock_key(args[op.arg].text) if op.arg is not None and op.arg < len(args) else ""


def _param_lock(lock: str, params: tuple[str, ...]) -> tuple[int, str]:
    """`f->lock` with parameter f at position 0 -> (0, "->lock"); a global lock -> (-1, lock)."""
    m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)(.*)$", lock)
    if m and m.group(1) in params:
        return params.index(m.group(1)), m.group(2)
    return -1, lock


def _at_call(position: int, rest: str, call: Call) -> str | None:
    if position < 0:
        return rest
    if position >= len(call.args):
        return None
    return lock_key(call.args[position].text) + rest


def macro_lock_effect(effect: MacroEffect, locks: dict[str, LockOp]) -> LockEffect | None:
    """What a macro whose body calls lock primitives does to the locks where it is invoked, as a lock
    wrapper would (`#define LOCK(d) spin_lock(&(d)->lock)` takes `d->lock`); None when it takes none, or
    names a lock through a parameter other than at its start (`&p->locks[(i)]`)."""
    acquires: list[tuple[str, str]] = []
    releases: list[tuple[str, str]] = []
    for name, args in effect.locks:
        op = locks[name]
        lock = lock_key(args[op.arg]) if op.arg is not None and op.arg < len(args) else ""
        for param in effect.params:
            while f"({param})" in lock:
                lock = lock.replace(f"({param})", param)
        for token in ((op.kind, lock),) + (((op.also, ""),) if op.also else ()):
            if op.op == "acquire":
                acquires.append(token)
            elif token in acquires:
                acquires.remove(token)
            else:
                releases.append(token)
    out: list[list[tuple[str, int, str]]] = [[], []]
    for tokens, into in ((acquires, out[0]), (releases, out[1])):
        for kind, lock in tokens:
            position, rest = _param_lock(lock, effect.params)
            if any(re.search(rf"\b{re.escape(p)}\b", rest) for p in effect.params):
                return None
            into.append((kind, position, rest))
    if not out[0] and not out[1]:
        return None
    return LockEffect(tuple(out[0]), tuple(out[1]))


def lock_effect(flow: LockFlow, params: tuple[str, ...]) -> LockEffect:
    """A function's net effect on locks: what it holds on every return, and what it releases without
    having taken it. (`__acquires(x)` annotations are not used: they do not say what kind of lock x is,
    and many name sleeping locks such as SRCU.)"""
    acquires = {(kind, *_param_lock(lock, params)) for kind, lock in flow.held_on_every_exit if kind != RELEASED}
    releases = {(kind, *_param_lock(lock, params)) for kind, lock in flow.released}
    return LockEffect(tuple(sorted(acquires)), tuple(sorted(releases - acquires)))


def local_aliases(cfg: Cfg) -> dict[str, str]:
    """Locals set once, from a field or another name (`info = hwfn->rdma_info;`), by what they stand for,
    so that a lock taken as `&hwfn->rdma_info->lock` is the one released as `&info->lock`."""
    values: dict[str, list[str]] = {}
    for node in cfg.nodes:
        for event in node.events:
            if event.kind == "store" and event.store is not None:
                target = norm(event.store.target.text)
                if target.isidentifier():
                    value = event.store.value
                    values.setdefault(target, []).append(norm(value.text) if value.kind in ("field", "ident") else "")
    return {name: texts[0] for name, texts in values.items() if len(texts) == 1 and texts[0] and texts[0] != name}


_HEAD = re.compile(r"([A-Za-z_]\w*)((?:->|\.).*)?$")


def _canonical(key: str, aliases: dict[str, str]) -> str:
    """A lock expression with its leading local replaced by what that local was set from."""
    for _ in range(3):  # an alias of an alias
        m = _HEAD.match(key)
        if m is None or m[1] not in aliases:
            break
        key = aliases[m[1]] + (m[2] or "")
    return key


class _Transfer:
    def __init__(self, contexts: Contexts, effects: dict[str, LockEffect] | None = None):
        self.locks = contexts.locks
        self.pure = contexts.pure
        self.hints = contexts.hints
        self.guards = contexts.guards
        self.effects = effects or {}
        self.aliases: dict[str, str] = {}

    def held_spelling(self, state: State, kind: str, lock: str) -> str:
        """The spelling under which `state` holds the lock a release names: the release's own, or another
        spelling of the same lock through a local alias (held as `&hw->info->lock`, released as
        `&info->lock`). Held tokens keep the spelling they were taken with, so lock wrappers' effects and
        their callers' locks still match by text."""
        if not self.aliases or not lock or any(h.kind == kind and h.lock == lock for h in state):
            return lock
        canonical = _canonical(lock, self.aliases)
        return next((h.lock for h in state if h.kind == kind and h.lock
                     and _canonical(h.lock, self.aliases) == canonical), lock)

    def event(self, state: State, event: Event, under: tuple = ()) -> State:
        if event.kind == "assign":
            return state
        if event.kind == "call":
            call = event.call
            guard = guard_of(call)
            if guard is not None:
                kind = self.guards.get(guard)
                lock = call.args[0].text if call.args else ""
                return _acquire(state, Held(kind, lock_key(lock), f"guard({guard})", call.span, under)) if kind else state
            op = self.locks.get(call.name)
            if op is None and call.name in self.effects:
                return self.wrapper(state, call, self.effects[call.name], under)
            if op is None or op.op == "try":
                return state
            lock = lock_of(op, call.args)
            if op.op == "acquire":
                if op.also:
                    state = _acquire(state, Held(op.also, "", call.name, call.span, under))
                return _acquire(state, Held(op.kind, lock, call.name, call.span, under))
            if op.also:
                state = _release(state, op.also, "")
            return _release(state, op.kind, self.held_spelling(state, op.kind, lock))
        kind = self.guards.get(event.guard)
        if kind is None:
            return state
        if event.kind == "acquire":
            return _acquire(state, Held(kind, lock_key(event.lock), f"scoped_guard({event.guard})", event.span, under))
        return _release(state, kind, lock_key(event.lock))

    def wrapper(self, state: State, call: Call, effect: LockEffect, under: tuple) -> State:
        for kind, position, rest in effect.releases:
            lock = _at_call(position, rest, call)
            if lock is not None:
                state = _release(state, kind, lock)
        for kind, position, rest in effect.acquires:
            lock = _at_call(position, rest, call)
            if lock is not None:
                state = _acquire(state, Held(kind, lock, f"{call.name}", call.span, under))
        return state

    def edge(self, state: State, cond: Expr | None, polarity: bool | None, calls: list[Call]) -> State:
        """A trylock in a condition holds its lock on the edge where it succeeded; a lock taken under
        `if (c)` is not held on the edge where the same `c` is false (`if (c) lock(); ... if (c) unlock();`)."""
        if cond is None or polarity is None:
            return state
        test = test_of(cond, self.pure)
        if test is not None:
            key, taken = test[0], polarity != test[1]
            if any((key, not taken) in h.under for h in state):
                state = frozenset(h for h in state if (key, not taken) not in h.under)
        found = self.trylock(cond, polarity)
        if found is None:
            return state
        name, lock = found
        op = self.locks[name]
        site = next((c.span for c in calls if c.name == name), cond.span)
        return _acquire(state, Held(op.kind, lock, name, site))

    def trylock(self, cond: Expr, polarity: bool) -> tuple[str, str] | None:
        e = cond.strip(self.hints)
        if e.kind == "unary" and e.op == "!" and e.children:
            return self.trylock(e.children[0], not polarity)
        if e.kind == "binary" and e.op == "&&" and polarity:
            return self.trylock(e.children[0], True) or self.trylock(e.children[1], True)
        if e.kind == "call" and polarity:
            op = self.locks.get(e.op)
            if op is not None and op.op == "try":
                return e.op, lock_of(op, e.children)
        return None


RELEASED = "released"  # the kind of a marker token: a lock held by the caller was released here


def _release(state: State, kind: str, lock: str) -> State:
    """Drop the held token and leave a marker that the lock was released here: where the function
    releases a lock its caller holds (see LockFlow.released), what follows runs after the caller's lock
    was dropped (`spin_unlock(); wait_for_...();`). Gen and kill only, so the dataflow stays monotone."""
    kept = frozenset(h for h in state if not (h.kind == kind and (h.lock == lock or not lock)))
    return kept | {Held(RELEASED, f"{kind}:{lock}", "", Span(0, 0))} if kind in ATOMIC_KINDS else kept


def _acquire(state: State, held: Held) -> State:
    marker = f"{held.kind}:{held.lock}"
    return frozenset(h for h in state if not (h.kind == RELEASED and h.lock == marker)) | {held}


def analyse_locks(cfg: Cfg, contexts: Contexts, effects: dict[str, LockEffect] | None = None,
                  entry: State = frozenset()) -> LockFlow:
    """Run the dataflow to a fixpoint: union at joins, so a lock held on any path counts. `effects` are
    the lock wrappers' summaries (calls to them act like the primitives they wrap); `entry` is what the
    caller holds on entry (`__must_hold(&p->lock)`)."""
    transfer = _Transfer(contexts, effects)
    if not entry and not _touches_locks(cfg, transfer):
        return LockFlow({}, frozenset())  # most functions: nothing is ever held, no need to solve
    transfer.aliases = local_aliases(cfg)
    node_calls = [[e.call for e in n.events if e.kind == "call"] for n in cfg.nodes]

    def through(node, state: State) -> State:
        for event in node.events:
            state = transfer.event(state, event, node.under)
        return state

    def along(node, polarity, state: State) -> State:
        return transfer.edge(state, node.cond, polarity, node_calls[node.id])

    state_in = solve_forward(cfg, entry, through, along, frozenset.union)
    must_in = _must_states(cfg, through, along, entry)
    before: dict[int, State] = {}
    released: set[tuple[str, str]] = set()
    for node in cfg.nodes:
        state = state_in[node.id]
        if state is None:
            continue
        must = must_in[node.id] or frozenset()
        for event in node.events:
            if event.kind == "call":
                before[event.call.span.start] = before.get(event.call.span.start, frozenset()) | state
                op = transfer.locks.get(event.call.name)
                if op is not None and op.op == "release" and op.kind in ATOMIC_KINDS:
                    lock = transfer.held_spelling(must, op.kind, lock_of(op, event.call.args))
                    # not held on every path here: on some path it is the caller's lock being dropped
                    for kind, key in ((op.kind, lock),) + (((op.also, ""),) if op.also else ()):
                        if not any(h.kind == kind and h.lock == key for h in must
                                   if h.kind != RELEASED and h.primitive != "__must_hold"):
                            released.add((kind, key))
            state = transfer.event(state, event, node.under)
            must = transfer.event(must, event, node.under)
    exit_must = must_in[cfg.exit]
    # a lock held since entry (`__must_hold`) and never dropped is not one this function takes
    return LockFlow(before, state_in[cfg.exit] or frozenset(), frozenset(released),
                    frozenset((h.kind, h.lock) for h in exit_must if h.primitive != "__must_hold")
                    if exit_must else frozenset())


def _touches_locks(cfg: Cfg, transfer: _Transfer) -> bool:
    """Whether any event can take or drop a lock (a trylock in a condition is a call of the node too);
    without one, every state stays empty."""
    locks, effects = transfer.locks, transfer.effects
    for node in cfg.nodes:
        for event in node.events:
            if event.kind in ("acquire", "release"):
                return True
            if event.kind == "call" and (event.call.name in locks or event.call.name in effects
                                         or guard_of(event.call) is not None):
                return True
    return False


def _must_states(cfg: Cfg, through, along, entry: State = frozenset()) -> list[State | None]:
    """What is held on every path into each node: the same transfer, joined by intersection (what a lock
    wrapper leaves held whichever way it returns; whether a release drops a lock the caller holds)."""

    def meet(a: State, b: State) -> State:
        other = {(h.kind, h.lock) for h in b}
        return frozenset(h for h in a if (h.kind, h.lock) in other)

    return solve_forward(cfg, entry, through, along, meet)
