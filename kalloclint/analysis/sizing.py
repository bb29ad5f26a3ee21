"""The modelled allocator for a run: the chosen arch profile, the headers, and what an allocation asks for."""

from __future__ import annotations

from dataclasses import dataclass

from kalloclint.analysis.fold import Folder, Unknown
from kalloclint.analysis.scope import Headers, Scope
from kalloclint.frontend.exprparse import ExpressionParser
from kalloclint.frontend.facts import Expr, FileFacts
from kalloclint.model import Allocator, Model
from kalloclint.model.arch import ArchProfile
from kalloclint.source import Span


@dataclass(slots=True)
class Sizing:
    """Shared by every file of a run; one Folder per file is made from it."""

    model: Model
    profile: ArchProfile
    headers: Headers
    parser: ExpressionParser

    @classmethod
    def build(cls, model: Model, profile: ArchProfile, headers: Headers) -> Sizing:
        return cls(model, profile, headers, ExpressionParser(model.macros))

    def folder(self, facts: FileFacts) -> Folder:
        return Folder(self.profile, self.model.arch, Scope(facts, self.headers), self.parser,
                      {d.name: d for d in facts.globals})


@dataclass(frozen=True, slots=True)
class AllocSize:
    """The bytes an allocation call asks for: `size` (count * size for array forms), `request`, what reaches
    kmalloc (devm_ adds its devres header), and `text`, the size arguments as written."""

    size: int
    request: int
    text: str
    span: Span
    count: int | None = None
    product: str = ""  # `count * size` for array forms, else the size text



def size_args(allocator: Allocator, args: tuple[Expr, ...]) -> tuple[Expr | None, Expr | None]:
    """(count, size) arguments of an allocation call."""
    def arg(position: int | None) -> Expr | None:
        return args[position] if position is not None and position < len(args) else None
    return arg(allocator.count), arg(allocator.size)


def alloc_size(folder: Folder, allocator: Allocator, args: tuple[Expr, ...], function,
               profile: ArchProfile) -> AllocSize | Unknown | None:
    """The folded size of a kmalloc-family call, Unknown with a reason, or None when it has no size."""
    count_arg, size_arg = size_args(allocator, args)
    if size_arg is None or size_arg.kind == "opaque" or (allocator.count is not None and count_arg is None):
        return None
    size = folder.size(size_arg, function)
    if isinstance(size, Unknown):
        return size
    count = None
    text = product = size_arg.text
    span = size_arg.span
    if count_arg is not None:
        folded = folder.size(count_arg, function)
        if isinstance(folded, Unknown):
            return folded
        count = folded
        text = f"{count_arg.text}, {size_arg.text}"
        product = f"{count_arg.text} * {size_arg.text}"
        span = Span(count_arg.span.start, size_arg.span.end)
    total = size * count if count is not None else size
    request = total + profile.devres_header if allocator.family == "devm" else total
    return AllocSize(total, request, " ".join(text.split()), span, count, " ".join(product.split()))


def describe(name: str, size: AllocSize, profile: ArchProfile) -> str:
    """`kmalloc(IMG_BUF_LEN) is 16777216 bytes`, with the devres header when there is one."""
    text = f"{name}({size.text}) is {size.size} bytes"
    if size.request != size.size:
        text += f" ({size.request} with the {profile.devres_header}-byte devres header)"
    return text
