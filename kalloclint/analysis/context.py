"""What a check sees of one file: its facts, the model, the project index, and questions about them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from kalloclint.analysis.atomic import AtomicReason, first_atomic, held_reason, role_reason
from kalloclint.analysis.consts import is_constant
from kalloclint.analysis.locks import LockFlow, analyse_locks
from kalloclint.analysis.roles import Role, file_roles
from kalloclint.analysis.project import ProjectIndex
from kalloclint.analysis.types import CType, type_of
from kalloclint.findings import Edit, Finding, Fix, Related
from kalloclint.frontend.facts import Call, Decl, Expr, FileFacts, Function, StructDef
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
    project: ProjectIndex
    _globals: dict[str, Decl] = field(default_factory=dict)
    _structs: dict[str, StructDef] = field(default_factory=dict)
    _constants: frozenset[str] = frozenset()
    _flows: dict[int, LockFlow] = field(default_factory=dict)
    _roles: dict[str, list[Role]] | None = None
    _gfp_locals: dict[int, dict[str, GfpValue]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._globals = {d.name: d for d in self.facts.globals}
        self._structs = {s.name: s for s in self.facts.structs}
        self._constants = frozenset(self.facts.defines) | self.facts.enum_constants

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
        """A struct defined in this file, else one defined in another file of the run."""
        return self._structs.get(name) or self.project.structs.get(name)

    def type_of(self, expr: Expr, function: Function | None) -> CType | None:
        return type_of(expr, function, self._globals, self.struct)

    def is_constant(self, expr: Expr) -> bool:
        return is_constant(expr, self._constants, self.model.constant_macros)

    # -- context: locks, handlers, GFP values -------------------------------------------------------

    def lock_flow(self, function: Function) -> LockFlow:
        key = function.span.start
        flow = self._flows.get(key)
        if flow is None:
            flow = self._flows[key] = analyse_locks(function, self.model.contexts)
        return flow

    def roles(self, function: Function) -> list[Role]:
        """Why the function runs where it does, from this file's registrations and annotations."""
        if self._roles is None:
            self._roles = file_roles(self.facts, self.model.contexts, self._binding_owner_type)
        return self._roles.get(function.name, [])

    def _binding_owner_type(self, binding) -> str | None:
        if binding.owner is None:
            return None
        function = next((f for f in self.facts.functions if f.name == binding.function), None)
        owner = self.type_of(binding.owner, function)
        return owner.base if owner is not None and owner.pointer == 0 else None

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

    def gfp_locals(self, function: Function) -> dict[str, GfpValue]:
        """Locals of the function whose every assignment is a known GFP value, all sleeping or all not."""
        key = function.span.start
        known = self._gfp_locals.get(key)
        if known is None:
            known = {}
            values: dict[str, list[GfpValue | None]] = {}
            local_names = {d.name for d in function.locals}
            for assign in function.assigns:
                if assign.name in local_names:
                    values.setdefault(assign.name, []).append(self.model.gfp.evaluate(assign.value))
            for name, vals in values.items():
                if all(v is not None for v in vals) and len({self.model.gfp.may_sleep(v) for v in vals}) == 1:
                    known[name] = vals[0]
            self._gfp_locals[key] = known
        return known

    def gfp_of(self, function: Function, call: Call) -> tuple[Expr, GfpValue] | None:
        """The call's GFP argument and its value: the allocator's flags position, else the first argument
        that evaluates as GFP flags (GFP names, or a local assigned only GFP constants)."""
        gfp = self.model.gfp
        local_values = self.gfp_locals(function)
        allocator = self.model.allocators.get(call.name)
        if allocator is not None:
            candidates = call.args[allocator.gfp:allocator.gfp + 1] if allocator.gfp is not None else ()
        else:
            candidates = call.args
        for arg in candidates:
            if arg.kind == "opaque":
                value = local_values.get(arg.text.strip())
            elif gfp.mentions_gfp(arg) or any(n.kind == "ident" and n.text in local_values for n in arg.walk()):
                value = gfp.evaluate(arg, local_values)
            else:
                continue
            if value is not None:
                return arg, value
        return None

    def reason_related(self, reason: AtomicReason) -> tuple[Related, ...]:
        if reason.site is None or reason.path != self.facts.path:
            return ()
        return (self.related(reason.site, reason.site_message),)

    # -- reporting -----------------------------------------------------------------------------

    def finding(self, check, span: Span, message: str, fix: Fix | None = None,
                related: tuple[Related, ...] = ()) -> Finding:
        message = " ".join(message.split())  # expression texts may span lines; a finding is one line
        return Finding(check.code, check.name, check.severity, message, self.facts.path, span,
                       self.facts.index.locate(span), fix, related)

    def related(self, span: Span, message: str) -> Related:
        return Related(self.facts.path, self.facts.index.locate(span), message)

    def line(self, span: Span) -> int:
        return self.facts.index.position(span.start)[0]

    @staticmethod
    def replace(span: Span, text: str) -> Edit:
        return Edit(span.start, span.end, text)
