"""Control-flow graphs of functions, built from the statement facts: nodes carry the events they execute."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass, field

from kalloclint.frontend.facts import Assign, Call, Deref, Expr, Function, MacroEffect, Stmt, Store
from kalloclint.source import Span


@dataclass(frozen=True, slots=True)
class Event:
    """Something a node does, in order: a call, a store, a dereference, a return, or entering / leaving
    a guard()'s scope."""

    kind: str  # "call", "assign", "store", "deref", "return", "acquire" or "release"
    call: Call | None = None
    assign: Assign | None = None
    guard: str = ""  # the guard class of acquire/release events: spinlock, rcu, ...
    lock: str = ""
    span: Span | None = None
    store: Store | None = None
    deref: Deref | None = None
    value: Expr | None = None  # what a return event returns


@dataclass(slots=True)
class Node:
    id: int
    events: list[Event] = field(default_factory=list)
    cond: Expr | None = None  # a branch node's condition; its edges carry True / False
    succ: list[tuple[int, bool | None]] = field(default_factory=list)
    under: tuple[tuple[str, bool], ...] = ()  # simple conditions (text, outcome) the node is nested under
    macro: str = ""  # the loop macro a loop head was rewritten from (list_for_each_entry)


@dataclass(slots=True)
class Cfg:
    nodes: list[Node]
    entry: int
    exit: int

    def preds(self) -> list[list[tuple[int, bool | None]]]:
        out: list[list[tuple[int, bool | None]]] = [[] for _ in self.nodes]
        for node in self.nodes:
            for target, polarity in node.succ:
                out[target].append((node.id, polarity))
        return out


Exits = list[tuple[int, "bool | None"]]


def condition_key(cond: Expr | None, pure: frozenset[str] = frozenset()) -> str | None:
    """The text of a condition that evaluates the same way each time it is tested (no calls but to
    `pure` functions, no assignments), so that two branches on it can be correlated; else None."""
    if cond is None:
        return None
    for node in cond.walk():
        if node.kind == "call" and node.op in pure:
            continue
        if node.kind in ("call", "assign", "opaque", "other") or (node.kind == "unary" and node.op in ("++", "--")):
            return None
    return "".join(cond.text.split())


def test_of(cond: Expr | None, pure: frozenset[str] = frozenset()) -> tuple[str, bool] | None:
    """A condition as (key, negated): `!(f->flags & ATOMIC)` tests the same thing as `f->flags & ATOMIC`
    with the outcomes swapped, so both get one key. None when the condition cannot be correlated."""
    if cond is None:
        return None
    node, negated = cond.strip(), False
    while node.kind == "unary" and node.op == "!" and node.children:
        node, negated = node.children[0].strip(), not negated
    key = condition_key(node, pure)
    return (key, negated) if key is not None else None


def guard_of(call: Call) -> str | None:
    """The class of a `guard(CLASS)(lock)` call, else None."""
    name = call.name.replace(" ", "")
    if name.startswith("guard(") and name.endswith(")"):
        return name[6:-1]
    return None


class _Builder:
    def __init__(self, function: Function, noreturn: frozenset[str], pure: frozenset[str],
                 macros: Mapping[str, MacroEffect]):
        self.calls = sorted(function.calls, key=lambda c: c.span.start)
        self.starts = [c.span.start for c in self.calls]
        self.assigns = sorted(function.assigns, key=lambda a: a.span.start)
        self.assign_starts = [a.span.start for a in self.assigns]
        self.stores = sorted(function.stores, key=lambda a: a.span.start)
        self.store_starts = [a.span.start for a in self.stores]
        self.derefs = sorted(function.derefs, key=lambda a: a.span.start)
        self.deref_starts = [a.span.start for a in self.derefs]
        self.noreturn = noreturn
        self.pure = pure
        self.macros = macros
        self.nodes: list[Node] = []
        self.labels: dict[str, int] = {}
        self.gotos: list[tuple[int, str]] = []
        # open loops and switches, innermost last: (breaks collected, continue target or -1, guard depth)
        self.breakables: list[tuple[Exits, int, int]] = []
        self.guards: list[list[Event]] = []  # per open block, the guards it has taken
        self.under: list[tuple[str, bool]] = []
        self.entry = self.node().id
        self.exit = self.node().id

    def node(self, events: list[Event] | None = None, cond: Expr | None = None) -> Node:
        n = Node(len(self.nodes), events or [], cond, under=tuple(self.under))
        self.nodes.append(n)
        return n

    def link(self, preds: Exits, target: int) -> None:
        for source, polarity in preds:
            self.nodes[source].succ.append((target, polarity))

    def own_calls(self, stmt: Stmt) -> list[Event]:
        """Calls, stores, dereferences and recorded assignments inside the statement but not inside its
        nested statements, in the order they run (arguments before the call that takes them, a call or a
        dereference before the store of its result)."""
        inner = sorted([c.span for c in stmt.children] + ([stmt.alt.span] if stmt.alt is not None else []))
        # Only the stretches between nested statements are looked at: scanning the whole range and testing
        # each item against the nested spans made deep nesting quadratic.
        gaps: list[tuple[int, int]] = []
        pos = stmt.span.start
        for s in inner:
            if s.start > pos:
                gaps.append((pos, min(s.start, stmt.span.end)))
            pos = max(pos, s.end)
        if pos < stmt.span.end:
            gaps.append((pos, stmt.span.end))
        own: list[tuple[int, int, Event]] = []
        for items, starts, kind in ((self.calls, self.starts, "call"), (self.assigns, self.assign_starts, "assign"),
                                    (self.stores, self.store_starts, "store"),
                                    (self.derefs, self.deref_starts, "deref")):
            if not items:
                continue
            late = kind in ("assign", "store")
            for begin, stop in gaps:
                i = bisect_left(starts, begin)
                while i < len(items) and starts[i] < stop:
                    item = items[i]
                    own.append((item.span.end, late, _event(kind, item)))
                    i += 1
        own.sort(key=lambda t: (t[0], t[1]))
        return [e for _, _, e in own]

    def simple(self, stmt: Stmt, preds: Exits, last: Event | None = None) -> Exits:
        events = self.own_calls(stmt) + ([last] if last is not None else [])
        n = self.node(events)
        self.link(preds, n.id)
        for event in events:
            if event.kind != "call":
                continue
            guard = guard_of(event.call)
            if guard is not None and self.guards:
                lock = event.call.args[0].text if event.call.args else ""
                self.guards[-1].append(Event("release", guard=guard, lock=lock, span=event.call.span))
        if any(e.kind == "call" and e.call.name in self.noreturn for e in events):
            self.link([(n.id, None)], self.exit)
            return []
        if self.macros:
            for event in events:
                call = event.call
                if call is not None and call.name in self.macros and call.stmt == stmt.span:
                    return self.macro_jumps(self.macros[call.name], call, n.id)
        return [(n.id, None)]

    def macro_jumps(self, effect: MacroEffect, call: Call, source: int) -> Exits:
        """A statement that invokes a macro whose body returns, jumps or calls a noreturn function: its node
        leads where the body may go, and on to the next statement only if the body may fall out of it."""
        for target in effect.exits:
            if target == "return":
                value = call.args[effect.returns] if 0 <= effect.returns < len(call.args) else None
                ret = self.node([Event("return", span=call.span, value=value)])
                self.link([(source, None)], ret.id)
                self.link([(ret.id, None)], self.exit)
            elif target == "noreturn":
                self.link([(source, None)], self.exit)
            elif target.startswith("goto "):
                label = target[len("goto "):]
                if label in effect.params:  # `LOAD_ERROR_EXIT(bp, load_error2)`: the label is an argument
                    position = effect.params.index(label)
                    label = call.args[position].text.strip() if position < len(call.args) else ""
                self.goto_from(source, label)
            else:
                self.loop_jump(target, source)
        return [] if effect.ends else [(source, None)]

    def release_node(self, releases: list[Event], preds: Exits) -> Exits:
        if not releases or not preds:
            return preds
        n = self.node(list(reversed(releases)))
        self.link(preds, n.id)
        return [(n.id, None)]

    def lower(self, stmt: Stmt, preds: Exits) -> Exits:
        kind = stmt.kind
        if kind == "block":
            self.guards.append([])
            for child in stmt.children:
                preds = self.lower(child, preds)
            return self.release_node(self.guards.pop(), preds)
        if kind == "if":
            return self.lower_if(stmt, preds)
        if kind in ("while", "for"):
            events, update = self.own_calls(stmt), []
            if kind == "for" and stmt.cond is not None:  # init once, then test; update after each pass
                cond = stmt.cond.span
                init = [e for e in events if _start(e) < cond.start]
                update = [e for e in events if _start(e) >= cond.end]
                events = [e for e in events if cond.start <= _start(e) < cond.end]
                if init:
                    first = self.node(init)
                    self.link(preds, first.id)
                    preds = [(first.id, None)]
            head = self.node(events, stmt.cond)
            head.macro = stmt.macro
            self.link(preds, head.id)
            again = head.id
            if update:
                again = self.node(update).id
                self.link([(again, None)], head.id)
            breaks: Exits = []
            self.breakables.append((breaks, again, len(self.guards)))
            body_exits = self.lower(stmt.children[0], [(head.id, True)]) if stmt.children else [(head.id, True)]
            self.breakables.pop()
            self.link(body_exits, again)
            return [(head.id, False)] + breaks
        if kind == "do":
            start = self.node()
            self.link(preds, start.id)
            cond = self.node(self.own_calls(stmt), stmt.cond)
            breaks = []
            self.breakables.append((breaks, cond.id, len(self.guards)))
            body_exits = self.lower(stmt.children[0], [(start.id, None)]) if stmt.children else [(start.id, None)]
            self.breakables.pop()
            self.link(body_exits, cond.id)
            self.link([(cond.id, True)], start.id)
            return [(cond.id, False)] + breaks
        if kind == "switch":
            return self.lower_switch(stmt, preds)
        if kind in ("case", "label"):
            target = self.node()
            self.link(preds, target.id)
            if kind == "label":
                self.labels[stmt.label] = target.id
            exits: Exits = [(target.id, None)]
            for child in stmt.children:
                exits = self.lower(child, exits)
            return exits
        if kind == "goto":
            n = self.node()
            self.link(preds, n.id)
            self.goto_from(n.id, stmt.label)
            return []
        if kind == "return":
            exits = self.simple(stmt, preds, Event("return", span=stmt.span, value=stmt.cond))
            self.link(exits, self.exit)
            return []
        if kind in ("break", "continue"):
            n = self.node()
            self.link(preds, n.id)
            self.loop_jump(kind, n.id)
            return []
        return self.simple(stmt, preds)

    def goto_from(self, source: int, label: str) -> None:
        """A jump from the node to a label, leaving the guards' scopes on the way."""
        exits = self.release_node([e for scope in self.guards[1:] for e in scope], [(source, None)])
        self.gotos.append((exits[0][0], label))

    def loop_jump(self, kind: str, source: int) -> None:
        """break or continue from the node."""
        target = self.jump_target(kind)
        if target is None:
            return
        collect, resume, depth = target
        exits = self.release_node([e for scope in self.guards[depth:] for e in scope], [(source, None)])
        if kind == "break":
            collect.extend(exits)
        else:
            self.link(exits, resume)

    def jump_target(self, kind: str) -> tuple[Exits, int, int] | None:
        """Where break (the innermost loop or switch) or continue (the innermost loop) goes."""
        for target in reversed(self.breakables):
            if kind == "break" or target[1] >= 0:
                return target
        return None

    def lower_if(self, stmt: Stmt, preds: Exits) -> Exits:
        events = self.own_calls(stmt)
        if stmt.macro in ("scoped_guard", "scoped_cond_guard"):
            return self.lower_scoped_guard(stmt, events, preds)
        head = self.node(events, stmt.cond)
        self.link(preds, head.id)
        test = test_of(stmt.cond, self.pure)
        then_exits = self.branch(stmt.children[0] if stmt.children else None, head.id, True, test)
        else_exits = self.branch(stmt.alt, head.id, False, test)
        return then_exits + else_exits

    def branch(self, stmt: Stmt | None, head: int, outcome: bool, test: tuple[str, bool] | None) -> Exits:
        if stmt is None:
            return [(head, outcome)]
        if test is not None:
            self.under.append((test[0], outcome != test[1]))
        exits = self.lower(stmt, [(head, outcome)])
        if test is not None:
            self.under.pop()
        return exits

    def lower_scoped_guard(self, stmt: Stmt, events: list[Event], preds: Exits) -> Exits:
        """`scoped_guard(CLASS, lock) { body }`: the lock is held exactly for the body."""
        parts = stmt.cond.children if stmt.cond is not None and stmt.cond.kind == "comma" else \
            ((stmt.cond,) if stmt.cond is not None else ())
        guard = parts[0].text if parts else ""
        lock = parts[1].text if len(parts) > 1 else ""
        if stmt.macro == "scoped_cond_guard" and len(parts) > 2:
            lock = parts[2].text
        head = self.node(events + [Event("acquire", guard=guard, lock=lock, span=stmt.span)])
        self.link(preds, head.id)
        exits = self.lower(stmt.children[0], [(head.id, None)]) if stmt.children else [(head.id, None)]
        return self.release_node([Event("release", guard=guard, lock=lock, span=stmt.span)], exits)

    def lower_switch(self, stmt: Stmt, preds: Exits) -> Exits:
        head = self.node(self.own_calls(stmt), None)
        self.link(preds, head.id)
        breaks: Exits = []
        self.breakables.append((breaks, -1, len(self.guards)))
        body = stmt.children[0] if stmt.children else None
        items = body.children if body is not None and body.kind == "block" else ((body,) if body else ())
        exits: Exits = []
        has_default = False
        for item in items:
            if item.kind == "case":
                has_default |= item.label == "default"
                exits = exits + [(head.id, None)]
            exits = self.lower(item, exits)
        self.breakables.pop()
        out = exits + breaks
        if not has_default:
            out.append((head.id, None))
        return out

    def finish(self, body: Stmt) -> Cfg:
        exits = self.lower(body, [(self.entry, None)])
        self.link(exits, self.exit)
        for source, label in self.gotos:
            target = self.labels.get(label)
            self.link([(source, None)], target if target is not None else self.exit)
        return Cfg(self.nodes, self.entry, self.exit)


def _start(event: Event) -> int:
    item = event.call or event.assign
    return item.span.start if item is not None else event.span.start


def _event(kind: str, item) -> Event:
    if kind == "call":
        return Event("call", call=item)
    if kind == "assign":
        return Event("assign", assign=item)
    if kind == "store":
        return Event("store", store=item, span=item.span)
    return Event("deref", deref=item, span=item.span)


def build_cfg(function: Function, noreturn: frozenset[str] = frozenset(), pure: frozenset[str] = frozenset(),
              macros: Mapping[str, MacroEffect] | None = None) -> Cfg:
    """The function's CFG: entry and exit nodes, one node per simple statement or condition. Branches on
    tests that may call only `pure` functions are correlated (Node.under). A statement invoking one of
    `macros` goes where the macro's body may go (`RET(-ENOMEM);` whose body returns ends the path)."""
    return _Builder(function, noreturn, pure, macros or {}).finish(function.body)
