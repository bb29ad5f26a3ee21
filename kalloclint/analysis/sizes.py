"""Shapes of allocation-size expressions: unchecked products, flexible-array struct sizes, sizeof targets."""

from __future__ import annotations

from dataclasses import dataclass

from kalloclint.analysis.fold import Unknown
from kalloclint.analysis.types import CType
from kalloclint.frontend.facts import Decl, Expr, StructDef
from kalloclint.frontend.extract import type_text


def sum_terms(expr: Expr) -> list[Expr]:
    """The operands of a chain of `+` (parentheses and casts looked through)."""
    e = _unwrap(expr)
    if e.kind == "binary" and e.op == "+" and len(e.children) == 2:
        return sum_terms(e.children[0]) + sum_terms(e.children[1])
    return [e]


def product_factors(expr: Expr) -> list[Expr]:
    """The operands of a chain of `*` (parentheses looked through)."""
    e = _unwrap(expr)
    if e.kind == "binary" and e.op == "*" and len(e.children) == 2:
        return product_factors(e.children[0]) + product_factors(e.children[1])
    return [e]


def unchecked_products(expr: Expr, is_constant) -> list[Expr]:
    """Multiplications reachable through + - ( ) and casts whose value is not a compile-time constant.
    Products inside calls (array_size(), max(), ...) are the callee's business and are not looked into."""
    e = _unwrap(expr)
    if e.kind != "binary" or len(e.children) != 2:
        return []
    if e.op == "*":
        return [] if is_constant(e) else [e]
    if e.op in ("+", "-"):
        return unchecked_products(e.children[0], is_constant) + unchecked_products(e.children[1], is_constant)
    return []


def folds_exactly(expr: Expr, fold) -> bool:
    """Is the expression a compile-time constant whose multiplications do not wrap: every factor folds
    (through the file's and its headers' #defines and enums, sizeof, ARRAY_SIZE) and the folded value,
    in the expression's C type, is the mathematical product of them and fits a size_t. `fold` is
    Folder.fold for the function the expression is in."""
    exact = 1
    for factor in product_factors(expr):
        value = fold(factor)
        if isinstance(value, Unknown):
            return False
        exact *= value.value
    whole = fold(expr)
    return not isinstance(whole, Unknown) and whole.value == exact and 0 <= exact < 1 << 64


def _unwrap(expr: Expr) -> Expr:
    e = expr.strip()
    while e.kind == "cast" and len(e.children) == 2:
        e = e.children[1].strip()
    return e


def sizeof_operand(expr: Expr) -> Expr | None:
    """X in `sizeof(X)` / `sizeof X` (parentheses removed), else None."""
    e = expr.strip()
    if e.kind != "sizeof" or not e.children:
        return None
    return e.children[0].strip()


def type_from_text(text: str) -> CType:
    """`struct foo *` -> CType("struct foo", 1)."""
    return CType(type_text(text.replace("*", " ")), text.count("*"))


def sizeof_type(expr: Expr, type_of) -> CType | None:
    """The type whose size `sizeof(...)` takes: from a type name or from the declared type of an expression."""
    operand = sizeof_operand(expr)
    if operand is None:
        return None
    if operand.kind == "type":
        return type_from_text(operand.text)
    return type_of(operand)


@dataclass(frozen=True, slots=True)
class FlexSize:
    """`sizeof(header) + n * sizeof(elem)` for a struct ending in a flexible array member."""

    struct: StructDef
    member: Decl
    header: Expr
    product: Expr


def flex_struct_size(size: Expr, type_of, struct_by_name, is_constant) -> FlexSize | None:
    """Recognise a hand-written flexible-array struct size (what struct_size() computes with overflow checks)."""
    terms = sum_terms(size)
    if len(terms) != 2:
        return None
    for header, other in (terms, terms[::-1]):
        ctype = sizeof_type(header, type_of)
        if ctype is None or ctype.pointer != 0 or ctype.struct_name is None:
            continue
        definition = struct_by_name(ctype.struct_name)
        member = definition.flexible_member() if definition is not None else None
        products = unchecked_products(other, is_constant)
        if member is not None and products and _unwrap(other) is products[0]:
            return FlexSize(definition, member, header, products[0])
    return None
