"""What a check sees of one file: its facts, the model, the project index, and questions about them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from kalloclint.analysis.consts import is_constant
from kalloclint.analysis.project import ProjectIndex
from kalloclint.analysis.types import CType, type_of
from kalloclint.findings import Edit, Finding, Fix, Related
from kalloclint.frontend.facts import Call, Decl, Expr, FileFacts, Function, StructDef
from kalloclint.model import Allocator, Free, Model
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
