"""Per-file facts: the picklable contract between the front end and everything after it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kalloclint.source import LineIndex, Span


@dataclass(slots=True)
class Expr:
    """A small expression tree. kind is one of: ident, number, string, char, call, binary, unary,
    sizeof, cast, paren, field, subscript, conditional, comma, type, opaque (not expanded), other.
    op holds the operator, the callee of a call, or the member of a field access."""

    kind: str
    text: str
    span: Span
    op: str = ""
    children: tuple[Expr, ...] = ()

    def walk(self):
        """This node and every node below it, depth first."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))

    def strip(self, hints: frozenset[str] = frozenset()) -> Expr:
        """The expression without enclosing parentheses, nor the branch hints named in `hints` around it
        (`unlikely(!p)` is `!p`)."""
        node = self
        while True:
            if node.kind == "paren" and node.children:
                node = node.children[0]
            elif node.kind == "call" and node.op in hints and len(node.children) == 1:
                node = node.children[0]
            else:
                return node


def norm(text: str) -> str:
    """Expression text without white space, for comparing two spellings of one expression."""
    return "".join(text.split())


MEMBER = re.compile(r"\b([A-Za-z_]\w*)(?:->|\.)([A-Za-z_]\w*)")  # `owner->member`, `owner.member`
CONSTANT_NAME = re.compile(r"^_*[A-Z][A-Z0-9_]*$")  # kernel style: an ALL_CAPS name is a constant macro or enum


@dataclass(frozen=True, slots=True)
class Decl:
    """A declared name: its base type (`struct foo`, `u8`), pointer depth and array dimension text
    (`None`: not an array; `""`: a flexible array `[]`)."""

    name: str
    type: str
    pointer: int
    array: str | None
    span: Span
    dims: tuple[str, ...] = ()  # every array dimension, outermost first (`a[2][3]`: ("2", "3"))
    bits: str | None = None  # a bit-field's width text
    aligned: str | None = None  # the argument of an `__aligned(n)` attribute on the member

    @property
    def holds_address(self) -> bool:
        """A pointer, or an array (a parameter declared `u8 buf[]` is a pointer)."""
        return bool(self.pointer) or self.array is not None


@dataclass(frozen=True, slots=True)
class StructDef:
    """A struct or union definition seen in a file. Unnamed members (`union { ... };`) have the name "";
    members whose type is defined inline refer to `nested` by the name `<kind> @<index>`. `complete` says
    every member was understood (no #if, macro or parse error inside), so the layout can be computed."""

    name: str
    kind: str
    fields: tuple[Decl, ...]
    span: Span
    packed: bool = False
    nested: tuple[StructDef, ...] = ()
    complete: bool = False
    aligned: str | None = None

    def flexible_member(self) -> Decl | None:
        """The trailing flexible array member (`x[]`, or the old `x[0]` form), if any."""
        if self.fields and self.fields[-1].array in ("", "0"):
            return self.fields[-1]
        return None

    def field(self, name: str) -> Decl | None:
        for member in self.fields:
            if member.name == name:
                return member
        return None


@dataclass(slots=True)
class Call:
    """A call site. `target` is where the result is stored (`p = f()`, `T *p = f()`), `cast` the cast
    written directly around the call, `use` where the (cast) value goes: assign, init, return, arg,
    cond, stmt or other. `stmt` is the statement's span when the call is the whole statement."""

    name: str
    span: Span
    name_span: Span
    args: tuple[Expr, ...]
    target: Expr | None = None
    cast: Expr | None = None
    use: str = "other"
    stmt: Span | None = None
    in_error: bool = False
    conditional: bool = False  # evaluated only after another part of its statement decided so (`p && f(p)`)


@dataclass(frozen=True, slots=True)
class FieldBinding:
    """A function name stored in a struct field: `.ndo_start_xmit = foo_xmit` in an initialiser of a
    `struct_type` variable, or `x->function = foo_fn` in `function` (struct_type then unknown: "")."""

    struct_type: str
    field: str
    value: str
    span: Span
    function: str = ""
    owner: Expr | None = None  # `x->timer` in `x->timer.function = fn`: its type names the struct


@dataclass(frozen=True, slots=True)
class Assign:
    """`name = value` or `T name = value` inside a function, kept where the value names GFP flags."""

    name: str
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Store:
    """`target = value` (or `T target = value`) inside a function, where the value is not a call (a call's
    result is its Call's target); compound assignments (`p += n`) and `p++` have a value of kind other."""

    target: Expr
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Deref:
    """A dereference `p->x`, `*p` or `p[i]` of a pointer the function allocates or frees: `base` is the
    pointer's text without white space or casts, `span` the whole access; `conditional` when it is
    evaluated only after another part of its expression (right of `&&` / `||`, a branch of `?:`);
    `address` when it only computes an address that is stored or returned (`return &p->base;`)."""

    base: str
    span: Span
    conditional: bool = False
    address: bool = False  # `&p->x` kept or returned, not handed to a call: computes an address only


@dataclass(slots=True)
class Stmt:
    """A statement. kind: block, if, while, do, for, switch, case, label, goto, return, break,
    continue, expr, decl, empty, other. `cond` is the condition (or the returned value), `children`
    the nested statements (for `if`, the then-branch; `alt` is the else-branch), `label` a label or
    goto target, `macro` the kernel macro a loop or guard block was rewritten from."""

    kind: str
    span: Span
    children: tuple[Stmt, ...] = ()
    cond: Expr | None = None
    alt: Stmt | None = None
    label: str = ""
    macro: str = ""


@dataclass(slots=True)
class Function:
    """A function definition with its declarations, statements and calls (calls in source order)."""

    name: str
    span: Span
    name_span: Span
    static: bool
    annotations: tuple[str, ...]
    params: tuple[Decl, ...]
    locals: tuple[Decl, ...]
    body: Stmt
    calls: tuple[Call, ...]
    assigns: tuple[Assign, ...] = ()
    stores: tuple[Store, ...] = ()
    derefs: tuple[Deref, ...] = ()
    # dereferences of pointer parameters that load or store through them (`p->x`, `*p`, `p[i]`, not
    # `&p->x`): which parameters the function dereferences before it tests them
    param_derefs: tuple[Deref, ...] = ()

    def decl(self, name: str) -> Decl | None:
        """The local or parameter called `name` (the innermost-looking one: locals win)."""
        for decl in reversed(self.locals):
            if decl.name == name:
                return decl
        for decl in self.params:
            if decl.name == name:
                return decl
        return None


@dataclass(frozen=True, slots=True)
class Typedef:
    """`typedef T name;`: the declared type as a Decl, and the inline definition of an unnamed
    struct or union (`typedef struct { ... } name;`)."""

    decl: Decl
    body: StructDef | None = None


@dataclass(frozen=True, slots=True)
class Include:
    """`#include "path"` (quoted) or `#include <path>`."""

    path: str
    quoted: bool


@dataclass(frozen=True, slots=True)
class MacroEffect:
    """What a function-like macro does to control flow and locks when it is invoked as a statement, from its
    body: `ends` when no path falls out of it; `exits` where its paths leave the invocation ("return",
    "break", "continue", "noreturn", or "goto LABEL"); `returns` the parameter `return x;` gives back (-1: no
    return, or another value); `locks` the lock primitives every path through it calls, in order, as (name,
    argument texts, which name the macro's parameters)."""

    params: tuple[str, ...]
    ends: bool = False
    exits: tuple[str, ...] = ()
    returns: int = -1
    locks: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True, slots=True)
class Rewrite:
    """One length-preserving rewrite of the source before parsing."""

    start: int
    end: int
    kind: str
    original: str


@dataclass(frozen=True, slots=True)
class Suppression:
    """An inline `kalloclint: ignore[...]` comment; `codes` as written; whole file for ignore-file."""

    line: int
    codes: tuple[str, ...]
    whole_file: bool
    span: Span


@dataclass(slots=True)
class FileFacts:
    """Everything the checks and the whole-tree analysis need to know about one file."""

    path: str
    index: LineIndex
    functions: tuple[Function, ...] = ()
    structs: tuple[StructDef, ...] = ()
    globals: tuple[Decl, ...] = ()
    defines: dict[str, str] = field(default_factory=dict)
    enum_constants: frozenset[str] = frozenset()
    rewrites: tuple[Rewrite, ...] = ()
    file_calls: tuple[Call, ...] = ()
    bindings: tuple[FieldBinding, ...] = ()
    enum_values: dict[str, str] = field(default_factory=dict)  # implicit values as "(PREVIOUS) + 1"
    enums: dict[str, tuple[str, ...]] = field(default_factory=dict)  # enum tag -> its constants
    function_defines: dict[str, tuple[tuple[str, ...], str]] = field(default_factory=dict)
    function_macros: frozenset[str] = frozenset()  # every `#define NAME(...)`, variadic ones too
    macro_effects: dict[str, MacroEffect] = field(default_factory=dict)  # function-like macros that jump or lock
    redefined: frozenset[str] = frozenset()  # macros or enum constants given two different values, or a
    # lower-case macro #defined once, on one side of an #if/#else (a constant in some builds only)
    typedefs: dict[str, Typedef] = field(default_factory=dict)
    includes: tuple[Include, ...] = ()
    suppressions: tuple[Suppression, ...] = ()
    error_count: int = 0  # regions of the parse in ERROR nodes (overlapping nodes are one region)
    error_bytes: int = 0  # bytes they cover: code that was not analysed
    warnings: tuple[str, ...] = ()
    declarations_only: bool = False  # a header read for its declarations: no functions, calls or stores
