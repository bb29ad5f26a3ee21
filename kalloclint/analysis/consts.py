"""Whether an expression is known at compile time, from its shape and the file's #defines and enums."""

from __future__ import annotations

import re

from kalloclint.frontend.facts import CONSTANT_NAME, Expr

_NAME = re.compile(r"\b[A-Za-z_]\w*\b")
_MEMBER_ACCESS = re.compile(r"->|\.\s*[A-Za-z_]|\[")


def is_constant(expr: Expr, names: frozenset[str] | set[str], constant_macros: frozenset[str],
                type_macros: frozenset[str] = frozenset()) -> bool:
    """True when every leaf is a literal, a sizeof, a type, an ALL_CAPS macro or enum name, or a name in
    `names` (the file's #defines and enum constants); calls count when the callee is one of `type_macros`
    (ARRAY_SIZE: only the argument's type matters), or an ALL_CAPS macro or one of `constant_macros` and
    every argument is constant."""
    e = expr.strip()
    kind = e.kind
    if kind in ("number", "char", "string", "sizeof", "type"):
        return True
    if kind == "ident":
        return bool(CONSTANT_NAME.match(e.text)) or e.text in names
    if kind == "call":
        if e.op in type_macros:
            return True
        if not (CONSTANT_NAME.match(e.op) or e.op in constant_macros):
            return False
    elif kind == "cast":
        return len(e.children) == 2 and is_constant(e.children[1], names, constant_macros, type_macros)
    elif kind not in ("binary", "unary", "paren", "conditional"):
        return False
    return all(is_constant(c, names, constant_macros, type_macros) for c in e.children)


def looks_constant(text: str, names: frozenset[str] | set[str], constant_macros: frozenset[str]) -> bool:
    """is_constant() for an argument kept as text, before paying for a parse: every name in it is an
    ALL_CAPS macro or enum name, one of `names` or `constant_macros`, `true`, `false` or `sizeof`, and no
    member or element of anything is read."""
    if _MEMBER_ACCESS.search(text):
        return False
    return all(CONSTANT_NAME.match(n) or n in names or n in constant_macros or n in ("true", "false", "sizeof")
               for n in _NAME.findall(text))
