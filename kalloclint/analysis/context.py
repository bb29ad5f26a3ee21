"""What a check sees of one file: its facts, the model, the project index, and questions about them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from kalloclint.analysis.atomic import AtomicReason, first_atomic, held_reason, role_reason
from kalloclint.analysis.consts import is_constant, looks_constant
from kalloclint.analysis.cfg import Cfg, build_cfg
from kalloclint.analysis.gfpflow import UNKNOWN, GfpFlow, analyse_gfp
from kalloclint.analysis.derefs import FileDerefs
from kalloclint.analysis.lifetimes import FileLifetimes, parsed_functions
from kalloclint.budget import OverBudget
from kalloclint.analysis.locks import (Held, LockEffect, LockFlow, analyse_locks, lock_effect, lock_key, lock_of,
                                      macro_lock_effect)
from kalloclint.analysis.roles import Role, file_roles
from kalloclint.analysis.fold import CInt, Folder, Unknown
from kalloclint.analysis.sizing import AllocSize, Sizing, alloc_size
from kalloclint.analysis.types import CType, type_of
from kalloclint.findings import Edit, Finding, Fix, Related
from kalloclint.frontend.facts import MEMBER, Call, Decl, Expr, FileFacts, Function, MacroEffect, StructDef
from kalloclint.model import Allocator, Free, Model
from kalloclint.model.gfp import GfpValue
from kalloclint.source import Span


@dataclass(frozen=True, slots=True)
class AllocSite:
    """A call to a modelled allocator inside a function."""

    function: Function
    call: Call
    allocator: Allocator

    def arg(self, position: int | None) -> Expr | None:
        if position is None or position >= len(self.call.args):
            return None
        return self.call.args[position]


@dataclass(frozen=True, slots=True)
class FreeSite:
    """A call to a modelled free inside a function."""

    function: Function
    call: Call
    free: Free

    @property
    def pointer(self) -> Expr | None:
        args = self.call.args
        return args[self.free.ptr] if self.free.ptr < len(args) else None


@dataclass(slots=True)
class FileContext:
    facts: FileFacts
    model: Model
    _globals: dict[str, Decl] = field(default_factory=dict)
    _structs: dict[str, StructDef] = field(default_factory=dict)
    _constants: frozenset[str] = frozenset()
    _defined: frozenset[str] = frozenset()  # the functions the file defines
    _flows: dict[int, LockFlow] = field(default_factory=dict)
    _roles: dict[str, list[Role]] | None = None
    _cfgs: dict[int, Cfg] = field(default_factory=dict)
    _effects: dict[str, LockEffect] | None = None
    _macros: dict[str, MacroEffect | None] = field(default_factory=dict)
    _folded_texts: dict[str, CInt | Unknown | None] = field(default_factory=dict)  # constant_value() of arguments kept as text
    _gfp_flows: dict[int, GfpFlow] = field(default_factory=dict)
    sizing: Sizing | None = None
    _folder: Folder | None = None
    _lifetimes: FileLifetimes | None = None
    _lifetimes_failed: bool = False
    foreign_effects: dict[str, LockEffect] = field(default_factory=dict)  # lock wrappers of other files
    _param_derefs: FileDerefs | None = None

    def __post_init__(self) -> None:
        self._globals = {d.name: d for d in self.facts.globals}
        self._structs = {s.name: s for s in self.facts.structs}
        self._constants = frozenset(self.facts.defines) | self.facts.enum_constants
        self._defined = frozenset(f.name for f in self.facts.functions)

    # -- sites ---------------------------------------------------------------------------------

    def alloc_sites(self) -> Iterator[AllocSite]:
        allocators = self.model.allocators
        for function in self.facts.functions:
            for call in function.calls:
                allocator = allocators.get(call.name)
                if allocator is not None and not call.in_error:
                    yield AllocSite(function, call, allocator)

    def free_sites(self) -> Iterator[FreeSite]:
        frees = self.model.frees
        for function in self.facts.functions:
            for call in function.calls:
                free = frees.get(call.name)
                if free is not None and not call.in_error:
                    yield FreeSite(function, call, free)

    def gfp_args(self) -> Iterator[tuple[Function, Call, Expr]]:
        """Every call argument that is a GFP expression (it names a GFP flag)."""
        gfp = self.model.gfp
        for function in self.facts.functions:
            for call in function.calls:
                if call.in_error:
                    continue
                for arg in call.args:
                    if arg.kind != "opaque" and gfp.mentions_gfp(arg):
                        yield function, call, arg

    # -- questions -----------------------------------------------------------------------------

    def struct(self, name: str) -> StructDef | None:
        """A struct defined in this file, else in the headers it includes (quoted, or found in the include
        directories); None when it is unknown or defined differently under #if."""
        own = self._structs.get(name)
        if own is not None:
            return own
        folder = self.folder
        found = folder.scope.structs(name, "struct") if folder is not None else []
        return found[0] if len(found) == 1 else None

    def type_of(self, expr: Expr, function: Function | None) -> CType | None:
        return type_of(expr, function, self._globals, self.struct)

    def is_constant(self, expr: Expr) -> bool:
        return is_constant(expr, self._constants, self.model.constant_macros, self.model.type_macros)

    def constant_value(self, expr: Expr, function: Function) -> CInt | Unknown | None:
        """The value of an argument that is a compile-time constant (kept as text or not), Unknown when it
        does not fold; None when it is not a constant."""
        if expr.kind == "opaque":
            text = expr.text
            if text in self._folded_texts:
                return self._folded_texts[text]
            if not looks_constant(text, self._constants, self.model.constant_macros):
                value = None
            else:
                # only macros and constants in it (no locals): the value is the same in every function
                folder = self.folder
                value = folder.fold_text(text, function) if folder is not None else Unknown("no arch profile")
            self._folded_texts[text] = value
            return value
        return self.fold(expr, function) if self.is_constant(expr) else None

    # -- context: locks, handlers, GFP values -------------------------------------------------------

    def cfg(self, function: Function) -> Cfg:
        key = function.span.start
        cfg = self._cfgs.get(key)
        if cfg is None:
            cfg = self._cfgs[key] = build_cfg(function, self.model.contexts.noreturn, self.model.contexts.pure,
                                              self.statement_macros(function))
        return cfg

    def statement_macros(self, function: Function) -> dict[str, MacroEffect]:
        """The function-like macros of this file and its headers that the function invokes as statements
        and whose bodies jump or take locks (`RET(-ENOMEM);`), by name."""
        out = {}
        for call in function.calls:
            if call.use == "stmt" and call.stmt is not None:
                effect = self.macro_effect(call.name)
                if effect is not None:
                    out[call.name] = effect
        return out

    def macro_effect(self, name: str) -> MacroEffect | None:
        """What a function-like macro of this file or its headers does to control flow and locks; None for
        a function, a macro that does neither, and the kernel API the model describes."""
        if name in self._macros:
            return self._macros[name]
        effect = None
        if name not in self.model.interesting and name.isidentifier():
            folder = self.folder
            if name in self.facts.function_macros or folder is None:
                effect = self.facts.macro_effects.get(name)
            else:
                effect = folder.scope.macro_effect(name)
        self._macros[name] = effect
        return effect

    def lock_flow(self, function: Function) -> LockFlow:
        key = function.span.start
        flow = self._flows.get(key)
        if flow is None:
            flow = self._flows[key] = analyse_locks(self.cfg(function), self.model.contexts, self.lock_effects(),
                                                    self.held_on_entry(function))
        return flow

    def held_on_entry(self, function: Function) -> frozenset[Held]:
        """Locks a `__must_hold(&p->lock)` annotation says the caller holds, when what kind of lock it is can
        be told: from a primitive the function itself applies to it, else from the declared type of the
        member or variable (rules/contexts.toml [lock_types])."""
        held = set()
        for text in function.annotations:
            if not text.startswith("__must_hold(") or not text.endswith(")"):
                continue
            lock = lock_key(text[len("__must_hold("):-1])
            kind = self._lock_kind(function, lock)
            if kind is not None:
                held.add(Held(kind, lock, "__must_hold", function.name_span))
        return frozenset(held)

    def _lock_kind(self, function: Function, lock: str) -> str | None:
        locks = self.model.contexts.locks
        for call in function.calls:
            op = locks.get(call.name)
            if op is not None and op.arg is not None and lock_of(op, call.args) == lock:
                return op.kind
        types = self.model.contexts.lock_types
        m = MEMBER.fullmatch(lock)
        if m is None:
            decl = self._globals.get(lock)
            return types.get(decl.type) if decl is not None and decl.pointer == 0 else None
        owner = next((d for d in function.params + function.locals if d.name == m[1]), None)
        struct = self._structs.get(owner.type.removeprefix("struct ").strip()) if owner is not None else None
        member = next((d for d in struct.fields if d.name == m[2]), None) if struct is not None else None
        return types.get(member.type) if member is not None and member.pointer == 0 else None

    def lock_effects(self) -> dict[str, LockEffect]:
        """Lock wrappers (functions that return with a lock taken or released): those defined in this
        file, solved bottom-up until stable, and those of other files the whole-tree phase passed in
        (a function of this file shadows a wrapper of the same name elsewhere)."""
        if self._effects is not None:
            return self._effects
        contexts = self.model.contexts
        own = {f.name for f in self.facts.functions}
        effects: dict[str, LockEffect] = {n: e for n, e in self.foreign_effects.items() if n not in own}
        for function in self.facts.functions:
            for name, macro in self.statement_macros(function).items():
                effect = macro_lock_effect(macro, contexts.locks) if macro.locks else None
                if effect is not None:
                    effects[name] = effect
        for _ in range(4):
            changed = False
            flows: dict[int, LockFlow] = {}
            for function in self.facts.functions:
                if not any(c.name in contexts.locks or c.name in effects for c in function.calls):
                    continue
                flow = flows[function.span.start] = analyse_locks(self.cfg(function), contexts, effects)
                params = tuple(p.name for p in function.params)
                effect = lock_effect(flow, params)
                if (effect.acquires or effect.releases) and effects.get(function.name) != effect:
                    effects[function.name] = effect
                    changed = True
            if not changed:
                # the last round ran with the final wrappers: its flows are what lock_flow() would compute
                # for functions the caller does not enter holding a lock
                for function in self.facts.functions:
                    flow = flows.get(function.span.start)
                    if flow is not None and not self.held_on_entry(function):
                        self._flows.setdefault(function.span.start, flow)
                break
        self._effects = effects
        return effects

    def gfp_flow(self, function: Function) -> GfpFlow:
        key = function.span.start
        flow = self._gfp_flows.get(key)
        if flow is None:
            flow = self._gfp_flows[key] = analyse_gfp(self.cfg(function), self.model.gfp)
        return flow

    def roles(self, function: Function) -> list[Role]:
        """Why the function runs where it does, from this file's registrations and annotations."""
        return self.all_roles().get(function.name, [])

    def all_roles(self) -> dict[str, list[Role]]:
        """Every role this file gives, by function name (the function may be defined elsewhere)."""
        if self._roles is None:
            self._roles = file_roles(self.facts, self.model.contexts, self._binding_owner_type)
        return self._roles

    def _binding_owner_type(self, binding) -> str | None:
        if binding.owner is None:
            return None
        function = next((f for f in self.facts.functions if f.name == binding.function), None)
        owner = self.type_of(binding.owner, function)
        return owner.base if owner is not None and owner.pointer == 0 else None

    def sleeps(self, function: Function, call: Call) -> bool:
        """Does the call sleep: a sleeper of the model, or a polling macro (`readl_poll_timeout`) whose sleep
        interval is not 0 (with 0 it spins; include/linux/iopoll.h might_sleep_if(sleep_us != 0)). An
        interval that cannot be folded is taken to be a sleep, as nearly every caller passes a delay. A
        function of the file's own that takes a sleeper's name (a bit-banged `static ... spi_read()`) is
        not the kernel's."""
        contexts = self.model.contexts
        if call.name in self._defined:
            return False
        if call.name in contexts.sleepers:
            return True
        index = contexts.poll_sleepers.get(call.name)
        if index is None or index >= len(call.args):
            return False
        interval = self.fold(call.args[index], function)
        return isinstance(interval, Unknown) or interval.value != 0

    def atomic_reason(self, function: Function, call: Call, raw_only: bool = False) -> AtomicReason | None:
        """Why `call` runs in atomic context, or None. With raw_only, only what stays atomic on
        PREEMPT_RT counts: raw spinlocks, disabled preemption or interrupts, IRQF_NO_THREAD handlers."""
        held = first_atomic(self.lock_flow(function).held(call), raw_only)
        if held is not None:
            return held_reason(held, self.line(held.site), self.facts.path)
        for role in sorted(self.roles(function), key=lambda r: (r.context != "nmi", r.site.start if r.site else 0)):
            if role.atomic and (not raw_only or role.no_thread or role.context == "nmi"):
                return role_reason(function.name, role, self.line(role.site) if role.site else None)
        return None

    def gfp_of(self, function: Function, call: Call, flow: GfpFlow | None = None) -> tuple[Expr, GfpValue] | None:
        """The call's GFP argument and its value: the allocator's flags position, else the first argument
        that evaluates as GFP flags: GFP names, and locals whose reaching values are all known GFP
        constants that agree on sleeping (so `gfp = atomic ? GFP_ATOMIC : GFP_KERNEL` stays unknown)."""
        gfp = self.model.gfp
        allocator = self.model.allocators.get(call.name)
        if allocator is not None:
            candidates = call.args[allocator.gfp:allocator.gfp + 1] if allocator.gfp is not None else ()
        else:
            candidates = call.args
        flow = flow if flow is not None else (self.gfp_flow(function) if function.assigns else None)
        for arg in candidates:
            if flow is None and arg.kind == "opaque":
                continue  # an argument kept as text names no GFP flag, and no local carries one here
            value = _gfp_value(gfp, arg, call, flow)
            if value is not None:
                return arg, value
        return None

    def reason_related(self, reason: AtomicReason) -> tuple[Related, ...]:
        if reason.site is None or reason.path != self.facts.path:
            return ()
        return (self.related(reason.site, reason.site_message),)

    # -- lifetimes: allocation families through locals, fields and wrappers --------------------------

    def lifetimes(self) -> FileLifetimes:
        if self._lifetimes_failed:
            raise OverBudget()  # it ran out of time once for this file: the next rule would too
        if self._lifetimes is None:
            try:
                self._lifetimes = FileLifetimes(self)
            except OverBudget:
                self._lifetimes_failed = True
                raise
        return self._lifetimes

    def families_at(self, function: Function, call: Call) -> frozenset | None:
        """What the pointer a modelled free receives may hold: Origins (with family, allocator and site),
        NULL and UNKNOWN; None when nothing is known."""
        return self.lifetimes().freed(function, call)

    # -- the modelled allocator: folded sizes and orders under the run's arch profile -----------------

    def param_derefs(self) -> FileDerefs:
        """The functions of the file that dereference some of their pointer parameters before testing them."""
        if self._param_derefs is None:
            self._param_derefs = FileDerefs(parsed_functions(self.facts.functions), self.model.lifetimes,
                                            self.is_function_macro)
        return self._param_derefs

    def is_function_macro(self, name: str) -> bool:
        """A function-like macro of the file or its headers (`#define mt76_rr(dev, ...)`), not a function."""
        folder = self.folder
        return name in self.facts.function_macros or (folder is not None and folder.scope.is_function_macro(name))

    def headers_read(self) -> list[str]:
        """The headers the modelled allocator read for this file, by real path."""
        return self._folder.scope.headers_read() if self._folder is not None else []

    @property
    def folder(self) -> Folder | None:
        if self._folder is None and self.sizing is not None:
            self._folder = self.sizing.folder(self.facts)
        return self._folder

    def fold(self, expr: Expr, function: Function | None = None) -> CInt | Unknown:
        folder = self.folder
        return folder.fold(expr, function) if folder is not None else Unknown("no arch profile")

    def alloc_size(self, site: AllocSite) -> AllocSize | Unknown | None:
        """What a sized allocation asks for, folded; None when the allocator takes no size."""
        folder = self.folder
        if folder is None:
            return Unknown("no arch profile")
        return alloc_size(folder, site.allocator, site.call.args, site.function, folder.profile)

    # -- reporting -----------------------------------------------------------------------------

    def finding(self, check, span: Span, message: str, fix: Fix | None = None,
                related: tuple[Related, ...] = (), severity: str | None = None) -> Finding:
        message = " ".join(message.split())  # expression texts may span lines; a finding is one line
        return Finding(check.code, check.name, severity or check.severity, message, self.facts.path, span,
                       self.facts.index.locate(span), fix, related)

    def related(self, span: Span, message: str) -> Related:
        return Related(self.facts.path, self.facts.index.locate(span), message)

    def line(self, span: Span) -> int:
        return self.facts.index.position(span.start)[0]

    @staticmethod
    def replace(span: Span, text: str) -> Edit:
        return Edit(span.start, span.end, text)


def _gfp_value(gfp, arg: Expr, call: Call, flow: GfpFlow | None) -> GfpValue | None:
    names = [arg.text.strip()] if arg.kind == "opaque" else [n.text for n in arg.walk() if n.kind == "ident"]
    local_values: dict[str, GfpValue] = {}
    for name in names:
        masks = flow.values(call, name) if flow is not None else None
        if masks is None or UNKNOWN in masks:
            continue
        values = [GfpValue(m, ()) for m in masks]
        if len({gfp.may_sleep(v) for v in values}) != 1:
            return None  # sleeps on some paths only: not certain
        local_values[name] = values[0]
    if arg.kind == "opaque":
        return local_values.get(arg.text.strip())
    if not local_values and not gfp.mentions_gfp(arg):
        return None
    return gfp.evaluate(arg, local_values)
