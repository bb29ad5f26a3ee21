"""The whole-tree phase: a call graph over every file's summary, may-sleep summaries solved to a fixpoint
(with a shortest-found witness chain), handler roles merged across files, and atomic reachability."""

from __future__ import annotations

import os
import re
from collections import deque
from dataclasses import dataclass, field
from typing import NamedTuple

from kalloclint.analysis.conditions import Cond, holds
from kalloclint.analysis.indirect import FieldTargets
from kalloclint.analysis.summary import FileSummary, FunctionSummary, Place, Reason, RoleInfo, Site, bool_literal
from kalloclint.findings import Finding, Related
from kalloclint.model import ATOMIC_CONTEXTS, Model
from kalloclint.source import Location, Span

_CONTEXT_NAMES = {"hardirq": "hardirq", "softirq": "softirq", "nmi": "NMI", "atomic": "atomic"}
# Chains longer than this (calls down to the sleeping operation) are not followed: deep in core code,
# sleeping is usually on a path the caller's arguments rule out, and the report would not be believed.
MAX_CHAIN = 4
_OR_OF_NAMES = re.compile(r"^[\w\s|()]+$")


class Hop(NamedTuple):
    """One step of a call chain: `text` (`buf_grow()`, or the final `krealloc(GFP_KERNEL)`) at `place`."""

    text: str
    place: Place


Chain = tuple[Hop, ...]


@dataclass(slots=True)
class SleepFacts:
    """When a function may sleep: always, if its gfp_t parameter sleeps, or for one value of a bool one."""

    always: Chain | None = None
    gfp_param: dict[int, Chain] = field(default_factory=dict)
    bool_param: dict[tuple[int, bool], Chain] = field(default_factory=dict)
    # sleeps only under tests of these fields of its parameters: unless the caller set them
    guarded: dict[tuple[tuple[int, str], ...], Chain] = field(default_factory=dict)
    # sleeps only when tests of its parameters against constants hold (and, unless the caller set them,
    # under tests of fields of its parameters)
    conditional: dict[tuple[tuple[Cond, ...], tuple[tuple[int, str], ...]], Chain] = field(default_factory=dict)


def describe_chain(caller: str, chain: Chain, here: str) -> str:
    """`rx_refill() -> buf_grow() -> krealloc(GFP_KERNEL) at ring.c:88`."""
    names = [f"{caller}()"] + [h.text for h in chain]
    last = chain[-1].place
    where = os.path.basename(last.path) if last.path != here else os.path.basename(here)
    return " -> ".join(names) + f" at {where}:{last.line}"


class Tree:
    """All summaries of a run, indexed; answers the questions the whole-tree rules ask."""

    def __init__(self, summaries: list[FileSummary], model: Model):
        self.model = model
        self.files = sorted(summaries, key=lambda s: s.path)
        self.functions: list[FunctionSummary] = [f for s in self.files for f in s.functions]
        self.static: dict[tuple[str, str], FunctionSummary] = {}
        self.by_name: dict[str, list[FunctionSummary]] = {}
        for f in self.functions:
            if f.static and not f.path.endswith(".h"):
                self.static.setdefault((f.path, f.name), f)
            else:
                self.by_name.setdefault(f.name, []).append(f)
        self.roles: dict[str, list[tuple[str, RoleInfo]]] = {}
        for s in self.files:
            for name, role in s.roles:
                self.roles.setdefault(name, []).append((s.path, role))
        self.sleep: dict[int, SleepFacts] = {}
        self._foreign: dict[int, Reason | None] = {}
        self.field_targets = FieldTargets(self)
        # each call through a struct field with the functions it may reach, in name order (the first is the
        # one a message names): worked out once, the table does not change while solving
        self.indirect: dict[int, list[tuple[Site, list[FunctionSummary]]]] = {}
        for f in self.functions:
            for site in f.indirect:
                targets = self.field_targets.targets(site.slot, f.path)
                if targets:
                    self.indirect.setdefault(id(f), []).append(
                        (site, sorted(targets, key=lambda g: (g.name, g.path))))
        self._solve()

    # -- the call graph ----------------------------------------------------------------------------

    def resolve(self, name: str, caller_path: str) -> list[FunctionSummary]:
        """The definitions a call may reach: the caller file's static function, else every non-static one
        of that name (several only when configurations define it more than once)."""
        local = self.static.get((caller_path, name))
        return [local] if local is not None else self.by_name.get(name, [])

    def roles_of(self, f: FunctionSummary) -> list[tuple[str, RoleInfo]]:
        """Roles given to `f` anywhere (a static function only by its own file)."""
        found = self.roles.get(f.name, [])
        if f.static and not f.path.endswith(".h"):
            return [(p, r) for p, r in found if p == f.path]
        if len(self.by_name.get(f.name, [])) > 1:
            return [(p, r) for p, r in found if p == f.path]  # ambiguous name: trust only its own file
        return found

    # -- may-sleep summaries ---------------------------------------------------------------------

    def _solve(self) -> None:
        for f in self.functions:
            facts = self.sleep[id(f)] = SleepFacts()
            for op in f.ops:
                if op.atomic or op.after_release:
                    continue
                hop = (Hop(op.text, Place(f.path, op.location.line, op.location.col)),)
                if op.param is not None:
                    facts.gfp_param.setdefault(op.param, hop)
                elif op.when is not None:
                    facts.bool_param.setdefault(op.when, hop)
                elif op.conds:
                    facts.conditional.setdefault((op.conds, op.fields), hop)
                elif op.fields:
                    facts.guarded.setdefault(op.fields, hop)
                elif facts.always is None:
                    facts.always = hop
        # each caller once per callee, however many times it calls it: a second look at the same state
        # finds nothing new (a caller's sites are listed together, so a repeat is the last one added)
        callers: dict[int, list[FunctionSummary]] = {}
        for f in self.functions:
            callees = [g for site in f.sites for g in self.resolve(site.callee, f.path)]
            callees.extend(g for _, targets in self.indirect.get(id(f), ()) for g in targets)
            for g in callees:
                found = callers.setdefault(id(g), [])
                if not found or found[-1] is not f:
                    found.append(f)
        work = deque(f for f in self.functions if self._sleepy(self.sleep[id(f)]))
        queued = {id(f) for f in work}
        while work:
            g = work.popleft()
            queued.discard(id(g))
            for f in callers.get(id(g), ()):
                if self._propagate(f) and id(f) not in queued:
                    queued.add(id(f))
                    work.append(f)

    @staticmethod
    def _sleepy(facts: SleepFacts) -> bool:
        return facts.always is not None or bool(facts.gfp_param) or bool(facts.bool_param) or \
            bool(facts.guarded) or bool(facts.conditional)

    def _propagate(self, f: FunctionSummary) -> bool:
        """Add to f's sleep facts from its callees'; True when something was added."""
        facts = self.sleep[id(f)]
        before = (facts.always is not None, len(facts.gfp_param), len(facts.bool_param), len(facts.guarded),
                  len(facts.conditional))
        for site, effect in self._call_effects(f):
            kind, key, chain = effect
            if site.conds and kind in ("always", "bool", "cond"):  # the call happens only when its tests hold
                kind, key = "cond", site.conds + (_bool_cond(key) if kind == "bool" else key or ())
            if kind == "always" and site.guard is not None:
                kind, key = "bool", site.guard  # the call happens only for one value of a bool parameter
            elif kind == "always" and site.fields:
                kind, key = "guarded", site.fields  # only under tests of fields of its parameters
            if kind == "always" and facts.always is None:
                facts.always = chain
            elif kind == "gfp":
                facts.gfp_param.setdefault(key, chain)
            elif kind == "bool":
                facts.bool_param.setdefault(key, chain)
            elif kind == "guarded":
                facts.guarded.setdefault(key, chain)
            elif kind == "cond":
                facts.conditional.setdefault((tuple(sorted(set(key))), site.fields), chain)
        return (facts.always is not None, len(facts.gfp_param), len(facts.bool_param), len(facts.guarded),
                len(facts.conditional)) != before

    def _call_effects(self, f: FunctionSummary):
        """(site, effect) for f's calls, direct and through struct fields, that may make f sleep. Calls in
        atomic regions are reported where they are, not propagated."""
        for site in f.sites:
            if site.atomic is None and not site.after_release and not site.param_dependent:
                effect = self.call_effect(site, f)
                if effect is not None:
                    yield site, effect
        for site, targets in self.indirect.get(id(f), ()):
            if site.atomic is None and not site.after_release and not site.param_dependent:
                effect = self._indirect_effect(site, f, targets)
                if effect is not None:
                    yield site, effect

    def call_effect(self, site: Site, caller: FunctionSummary):
        """What a call does to its caller's sleep facts: ("always", None, chain), ("gfp", i, chain),
        ("bool", (i, value), chain), ("cond", conditions on the caller's parameters, chain), or None. With
        several definitions, all must agree."""
        effects = []
        for g in self.resolve(site.callee, caller.path):
            effect = self._one_effect(site, caller, g)
            if effect is None:
                return None
            effects.append(effect)
        if not effects:
            return None
        kinds = {(e[0], e[1]) for e in effects}
        return effects[0] if len(kinds) == 1 else None

    def indirect_sleep(self, site: Site, caller: FunctionSummary, targets: list[FunctionSummary]) \
            -> tuple[FunctionSummary, Chain] | None:
        """The first target and its chain (from the call down) when every function a call through a struct
        field may reach sleeps whatever it is given; None otherwise. One sleeping implementation among
        several is usually a variant (another chip, another firmware path) the caller never uses; so is
        the absent one of an optional callback (`if (ops->fn) ops->fn()`), and a target that sleeps only
        under a test of its arguments' fields or values, which the caller was not seen to set up."""
        if site.optional:
            return None  # an optional callback: the objects that leave it unset do not sleep there
        first = None
        for g in targets:
            facts = self.sleep.get(id(g))
            if facts is None or facts.always is None:
                return None
            effect = self._one_effect(site, caller, g)
            if effect is None or effect[0] != "always":
                return None
            first = first or (g, effect[2])
        return first

    def _indirect_effect(self, site: Site, caller: FunctionSummary, targets: list[FunctionSummary]):
        """indirect_sleep() as a call effect for the caller's facts, its first hop naming the pointer read
        and the target followed (`dev->ops->reset() [= foo_reset()]`)."""
        found = self.indirect_sleep(site, caller, targets)
        if found is None:
            return None
        chain = found[1]
        return "always", None, (Hop(f"{site.callee}() [= {chain[0].text}]", chain[0].place),) + chain[1:]

    def _one_effect(self, site: Site, caller: FunctionSummary, g: FunctionSummary):
        facts = self.sleep.get(id(g))
        if facts is None or not self._sleepy(facts):
            return None  # most callees: nothing known to sleep
        hop = Hop(f"{g.name}()", Place(caller.path, site.location.line, site.location.col))
        if self._atomic_flags_given(site, g):
            return None  # the callee takes GFP flags and was given non-sleeping ones: its contract is not to sleep
        if facts.always is not None and len(facts.always) < MAX_CHAIN:
            return "always", None, (hop,) + facts.always
        for index, chain in sorted(facts.gfp_param.items()):
            arg = site.args[index] if index < len(site.args) else None
            if arg is not None and self.gfp_sleeps(arg):
                return "always", None, (hop,) + chain
            if arg in caller.params:
                return "gfp", caller.params.index(arg), (hop,) + chain
        for (index, value), chain in sorted(facts.bool_param.items()):
            kind, known = _argument(site, caller, index)
            if kind == "const" and bool(known) == value or kind == "unknown":
                return "always", None, (hop,) + chain  # passes the value that sleeps, or cannot rule it out
            if kind == "param":
                return "bool", (known, value), (hop,) + chain
        for fields, chain in sorted(facts.guarded.items()):
            if len(chain) >= MAX_CHAIN or any(f in site.sets for f in fields):
                continue  # the caller set up what the callee tests (`cmd.flags = CMD_ASYNC`): not known to sleep
            return "always", None, (hop,) + chain
        found = None
        for (conds, fields), chain in sorted(facts.conditional.items()):
            if len(chain) >= MAX_CHAIN or any(f in site.sets for f in fields):
                continue
            mapped = _caller_conds(conds, site, caller)
            if mapped == ():
                return "always", None, (hop,) + chain
            if mapped is not None and found is None:
                found = "cond", mapped, (hop,) + chain
        return found

    def _atomic_flags_given(self, site: Site, g: FunctionSummary) -> bool:
        for index in g.gfp_params:
            arg = site.args[index] if index < len(site.args) else None
            if arg is not None and _OR_OF_NAMES.match(arg) and not self.gfp_sleeps(arg) and \
                    all(n in self.model.gfp.names for n in re.findall(r"\w+", arg)):
                return True
        return False

    def gfp_sleeps(self, text: str) -> bool:
        """Does a GFP expression written as an OR of names allow direct reclaim?"""
        if not _OR_OF_NAMES.match(text):
            return False
        gfp = self.model.gfp
        mask = 0
        for name in re.findall(r"\w+", text):
            if name not in gfp.names:
                return False
            mask |= gfp.names[name]
        return bool(mask & gfp.sleeping)

    # -- what the rules ask ------------------------------------------------------------------------

    def sleeping_calls_in_atomic(self):
        """(function, site, reason, chain) for every call in atomic context to a function that may sleep
        with the arguments given. Calls given sleeping GFP flags directly are KAL101's, not listed."""
        for f in self.functions:
            foreign = self.foreign_atomic_reason(f)
            for site in f.sites:
                reason = site.atomic or foreign
                if reason is None or any(a is not None and self.gfp_sleeps(a) for a in site.args):
                    continue
                effect = self.call_effect(site, f)
                if effect is not None and effect[0] == "always":
                    yield f, site, reason, effect[2]

    def foreign_atomic_reason(self, f: FunctionSummary) -> Reason | None:
        """An atomic role of `f` given only by another file (its own file's roles were seen by the
        per-file rules already). Asked for every function by several rules: worked out once."""
        key = id(f)
        if key not in self._foreign:
            self._foreign[key] = self._foreign_atomic_reason(f)
        return self._foreign[key]

    def _foreign_atomic_reason(self, f: FunctionSummary) -> Reason | None:
        if f.name not in self.roles:
            return None  # no file gives it a role
        roles = self.roles_of(f)
        if any(p == f.path and r.context in ATOMIC_CONTEXTS for p, r in roles):
            return None
        for path, role in sorted(roles, key=lambda pr: (pr[1].context != "nmi", pr[0])):
            if role.context in ATOMIC_CONTEXTS:
                return role_reason(f.name, role)
        return None

    def foreign_role_ops(self):
        """(function, op, reason) for direct sleeping operations of functions registered for atomic
        context by another file."""
        for f in self.functions:
            reason = self.foreign_atomic_reason(f)
            if reason is None:
                continue
            for op in f.ops:
                if not op.atomic and op.param is None and op.when is None and \
                        all(_may_hold(c, "unknown", None) for c in op.conds):
                    yield f, op, reason

    def foreign_nmi_allocations(self):
        """(function, span, location, text, reason) for allocations in NMI handlers registered elsewhere."""
        for f in self.functions:
            reason = self.foreign_atomic_reason(f)
            if reason is None or "NMI" not in reason.text:
                continue
            for op in f.ops:
                if op.code in ("KAL101", "KAL102"):
                    yield f, op.span, op.location, op.text, reason
            for alloc in f.atomic_gfp:
                yield f, alloc.span, alloc.location, alloc.flags, reason

    def atomic_reachable(self) -> set[int]:
        """Functions that some atomic context may reach: handlers for atomic context, callees of calls
        made in atomic regions, and everything they call."""
        seeds = [f for f in self.functions if any(r.context in ATOMIC_CONTEXTS for _, r in self.roles_of(f))]
        for f in self.functions:
            for site in f.sites:
                if site.atomic is not None:
                    seeds.extend(self.resolve(site.callee, f.path))
        reached = {id(f) for f in seeds}
        work = deque(seeds)
        while work:
            f = work.popleft()
            for site in f.sites:
                for g in self.resolve(site.callee, f.path):
                    if id(g) not in reached:
                        reached.add(id(g))
                        work.append(g)
        return reached

    def needless_atomic(self):
        """(function, allocation, why-it-may-sleep) for GFP_ATOMIC / GFP_NOWAIT where the code is known to
        be able to sleep and no atomic context reaches it."""
        reachable = self.atomic_reachable()
        for f in self.functions:
            if id(f) in reachable:
                continue
            process = [(p, r) for p, r in self.roles_of(f) if r.context == "process"]
            for alloc in f.atomic_gfp:
                if alloc.atomic:
                    continue
                if process:
                    path, role = process[0]
                    yield f, alloc, _process_text(f.name, role)
                elif alloc.sleepable:
                    yield f, alloc, "a mutex or semaphore is held here, so this code may sleep"


def _argument(site: Site, caller: FunctionSummary, index: int) -> tuple[str, int | None]:
    """What the caller passes at `index`: ("const", value), ("param", caller's parameter position),
    ("fixed", None) for a constant or GFP expression whose value is not known, or ("unknown", None)."""
    if index >= len(site.args):
        return "fixed", None  # varargs or another definition's parameter list
    text = site.args[index]
    literal = bool_literal(text)
    if literal is not None:
        return "const", int(literal)
    if text in caller.params:
        return "param", caller.params.index(text)
    for position, value in site.consts:
        if position == index:
            return ("const", value) if value is not None else ("fixed", None)
    return ("fixed", None) if text is not None else ("unknown", None)


def _may_hold(cond: Cond, kind: str, value: int | None) -> bool:
    """Can the test hold for an argument of this kind ("const" with its value, "fixed", "unknown")?"""
    if kind == "const":
        return holds(cond, value)
    if kind == "fixed":
        return False  # a constant not folded: the caller knows which way it goes, kalloclint does not
    # unknown: a comparison may pass (`if (len > SMALL)` with a length computed at run time), a bit test of
    # a flags word is a mode its callers choose on purpose and is not taken to
    return cond.op not in ("&", "!&")


def _caller_conds(conds: tuple[Cond, ...], site: Site, caller: FunctionSummary) -> tuple[Cond, ...] | None:
    """A callee's tests of its parameters seen from one call: None when the arguments rule them out, else
    the tests left on the caller's own parameters (() when they pass)."""
    out = []
    for cond in conds:
        kind, value = _argument(site, caller, cond.param)
        if kind == "param":
            out.append(Cond(value, cond.op, cond.value))
        elif not _may_hold(cond, kind, value):
            return None
    return tuple(out)


def _bool_cond(key: tuple[int, bool]) -> tuple[Cond]:
    """A bool parameter's value as a test: `(i, True)` is `p != 0`."""
    return (Cond(key[0], "!=" if key[1] else "==", 0),)


def role_reason(name: str, role: RoleInfo) -> Reason:
    context = _CONTEXT_NAMES.get(role.context, role.context)
    if role.place is None:
        return Reason(f"{name}() runs in {context} context", None, "")
    verb = "set as" if role.how.startswith(".") else "registered with"
    where = f"{os.path.basename(role.place.path)}:{role.place.line}"
    return Reason(f"{name}() runs in {context} context ({verb} {role.how} at {where})", role.place,
                  f"{name}() registered here")


def _process_text(name: str, role: RoleInfo) -> str:
    if role.place is None:
        return f"{name}() is {role.how} code, which may sleep"
    verb = "set as" if role.how.startswith(".") else "registered with"
    return f"{name}() runs in process context ({verb} {role.how} at " \
           f"{os.path.basename(role.place.path)}:{role.place.line})"



def tree_finding(check, path: str, span: Span, location: Location, message: str,
                 reason: Reason | None = None, chain: Chain = ()) -> Finding:
    """A whole-tree finding, with the reason's site and each hop of the chain as related locations."""
    related = []
    for hop in chain:
        p = hop.place
        related.append(Related(p.path, Location(p.line, p.col, p.line, p.col), f"calls {hop.text}"
                               if hop is not chain[-1] else f"{hop.text} may sleep here"))
    if reason is not None and reason.site is not None:
        p = reason.site
        related.append(Related(p.path, Location(p.line, p.col, p.line, p.col), reason.site_message))
    return Finding(check.code, check.name, check.severity, " ".join(message.split()), path, span, location,
                   None, tuple(related))
