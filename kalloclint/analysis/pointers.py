"""Pointer expressions as the lifetime analyses see them: the place a pointer is stored, NULL tests, edges."""

from __future__ import annotations

import re

from kalloclint.analysis.cfg import Node
from kalloclint.frontend.facts import Expr, norm
from kalloclint.model import Lifetimes

_PLACE = re.compile(r"[A-Za-z_]\w*(?:(?:->|\.)[A-Za-z_]\w*)*")
_ZERO = frozenset({"0", "0L", "0UL", "0U", "NULL", "false"})


class _NotTested:
    def __repr__(self) -> str:
        return "NOT_TESTED"


NOT_TESTED = _NotTested()  # the condition says nothing about the pointer


def unwrap(expr: Expr) -> Expr:
    """The expression inside parentheses and casts."""
    while expr.children and expr.kind in ("paren", "cast"):
        expr = expr.children[-1]
    return expr


def key_of(expr: Expr | None) -> str | None:
    """The place a pointer expression names, as text without white space or casts: `p`, `priv->rx`,
    `bufs[i]`; None for anything else (a call, arithmetic, `*p`)."""
    if expr is None:
        return None
    e = unwrap(expr)
    if e.kind == "ident":
        return None if e.text in ("NULL", "true", "false") else e.text
    if e.kind == "field" and e.children:
        base = key_of(e.children[0])
        return base + e.op if base is not None else None
    if e.kind == "subscript" and len(e.children) == 2:
        base = key_of(e.children[0])
        return f"{base}[{norm(e.children[1].text)}]" if base is not None else None
    if e.kind == "opaque":
        text = norm(e.text)
        return text if _PLACE.fullmatch(text) and text not in ("NULL", "true", "false") else None
    return None


def place_expr(expr: Expr) -> Expr:
    """An opaque `priv->rx` argument (of a call the front end does not expand) as a field expression,
    so that its type can be asked; other expressions as they are."""
    if expr.kind != "opaque":
        return expr
    text = norm(expr.text)
    if not _PLACE.fullmatch(text):
        return expr
    parts = re.split(r"(->|\.)", text)
    node = Expr("ident", parts[0], expr.span)
    for i in range(1, len(parts), 2):
        op = parts[i] + parts[i + 1]
        node = Expr("field", node.text + op, expr.span, op, (node,))
    return node


def address_taken(arg: Expr) -> str | None:
    """The place whose address an argument passes (`&p`, `&priv->rx`): the callee may store into it."""
    e = unwrap(arg)
    if e.kind == "unary" and e.op == "&" and e.children:
        return key_of(e.children[0])
    if e.kind == "opaque":
        text = norm(e.text)
        if text.startswith("&") and _PLACE.fullmatch(text[1:]):
            return text[1:]
    return None


def is_weak(key: str) -> bool:
    """An array element: a store to `bufs[i]` does not overwrite what `bufs[j]` holds."""
    return "[" in key


def under(key: str, base: str) -> bool:
    """`key` is reached through `base` (`priv->rx` through `priv`), so changing `base` changes it."""
    return len(key) > len(base) and key.startswith(base) and key[len(base)] in "-.["


def base_ident(key: str) -> str:
    return re.split(r"->|\.|\[", key, maxsplit=1)[0]


def is_null(expr: Expr) -> bool:
    e = unwrap(expr)
    return e.kind in ("ident", "number", "opaque") and e.text.strip() in _ZERO


def nonnull_when(cond: Expr, key: str, api: Lifetimes):
    """Which outcome of `cond` shows the place `key` is not NULL (not zero): True, False, None (it is
    tested, but neither outcome tells), or NOT_TESTED."""
    e = unwrap(cond)
    if e.kind == "assign" and e.children and key_of(e.children[0]) == key:
        return True
    if key_of(e) == key:
        return True
    if e.kind == "unary" and e.op == "!" and e.children:
        inner = nonnull_when(e.children[0], key, api)
        return (not inner) if isinstance(inner, bool) else inner
    if e.kind == "call" and e.children and (e.op in api.transparent or e.op in api.null_tests):
        if e.op in api.null_tests:
            return False if key_of(e.children[0]) == key else NOT_TESTED
        return nonnull_when(e.children[0], key, api)
    if e.kind == "binary" and len(e.children) == 2:
        a, b = (_assigned(c) for c in e.children)
        if e.op in ("==", "!=", "<", ">"):
            if key_of(a) == key and is_null(b) or key_of(b) == key and is_null(a):
                if e.op == "==":
                    return False
                return True  # `!=`; and `x < 0`, `x > 0` are true only for a nonzero x
            return NOT_TESTED
        if e.op in ("&&", "||"):
            left, right = nonnull_when(a, key, api), nonnull_when(b, key, api)
            decisive = e.op == "||"  # `a || b` false: both false; `a && b` true: both true
            if left is (not decisive) or right is (not decisive):
                return not decisive
            if left is NOT_TESTED and right is NOT_TESTED:
                return NOT_TESTED
            return None
    if any(key_of(n) == key for n in e.walk() if n.kind in ("ident", "field", "opaque")):
        return None if _mentioned_as_value(e, key) else NOT_TESTED
    return NOT_TESTED


def _assigned(e: Expr) -> Expr:
    """`(p = kmalloc(...))` in a comparison is a test of p."""
    inner = unwrap(e)
    return inner.children[0] if inner.kind == "assign" and inner.children else e


def _mentioned_as_value(e: Expr, key: str) -> bool:
    """The place appears in the condition other than as the base of an access (`p->n > 0` is not a test
    of p, `foo(p)` may be)."""
    for node in e.walk():
        for child in node.children:
            if key_of(child) == key and not (node.kind in ("field", "subscript") and child is node.children[0]):
                return True
    return False


def edge_possible(node: Node, polarity: bool | None) -> bool:
    """False for the edge a constant condition never takes (`do { } while (0)`, `while (1)`)."""
    if polarity is None or node.cond is None:
        return True
    text = unwrap(node.cond).text.strip()
    if text in ("0", "false"):
        return not polarity
    if text in ("1", "true"):
        return polarity
    return True


def loop_variables(node: Node) -> list[str]:
    """The plain variables a loop macro's head hands out (`list_for_each_entry(pos, head, member)`
    assigns pos on every iteration)."""
    if not node.macro or node.cond is None:
        return []
    parts, stack = [], [node.cond]
    while stack:
        e = stack.pop()
        if e.kind == "comma":
            stack.extend(reversed(e.children))
        else:
            parts.append(e)
    return [p.text for p in parts if p.kind == "ident"]


# -- what a path knows about the values of locals, to rule out paths that cannot happen -------------

Facts = frozenset  # of (local, "nonzero" or the decimal text of its value)


def fact_of(value: Expr, api: Lifetimes) -> str | None:
    """What a store tells about the local it sets: its constant value, or that it is nonzero (`-EIO`,
    `PTR_ERR(x)`); None for anything else."""
    e = unwrap(value)
    if e.kind == "number":
        number = _integer(e.text)
        return str(number) if number is not None else None
    if e.kind == "ident" and e.text in ("true", "false"):
        return "1" if e.text == "true" else "0"
    if e.kind == "unary" and e.op == "-" and e.children:
        inner = unwrap(e.children[0])
        return "nonzero" if inner.kind != "number" or _integer(inner.text) != 0 else "0"
    if e.kind == "call" and e.op in api.error_codes:
        return "nonzero"
    return None


def with_fact(facts: Facts, name: str | None, fact: str | None) -> Facts:
    """The facts after a store to the place `name` (facts about places reached through it are dropped)."""
    if name is None or is_weak(name):
        return facts
    kept = frozenset(f for f in facts if f[0] != name and not under(f[0], name))
    return kept | {(name, fact)} if fact is not None else kept


def tested_facts(tests) -> Facts:
    """Facts from the simple conditions a node is nested under: `if (err)` true means err is nonzero."""
    out = set()
    for text, outcome in tests:
        while text.startswith("!"):
            text, outcome = text[1:], not outcome
        if text.isidentifier():
            out.add((text, "nonzero" if outcome else "0"))
    return frozenset(out)


def decide(cond: Expr, facts: Facts, api: Lifetimes) -> bool | None:
    """The outcome of a condition given what the path knows, or None when it cannot be told."""
    if not facts:
        return None
    value = _value(cond, dict(facts), api)
    if value is None:
        return None
    return value != 0


def _value(expr: Expr, facts: dict[str, str], api: Lifetimes):
    """An int, "nonzero", or None (unknown)."""
    e = unwrap(expr)
    if e.kind == "number":
        return _integer(e.text)
    if e.kind in ("ident", "field"):
        fact = facts.get(key_of(e) or "")
        return fact if fact == "nonzero" else (int(fact) if fact is not None else None)
    if e.kind == "call" and e.op in api.transparent and e.children:
        return _value(e.children[0], facts, api)
    if e.kind == "unary" and e.op == "!" and e.children:
        inner = _value(e.children[0], facts, api)
        return None if inner is None else int(inner != "nonzero" and inner == 0)
    if e.kind != "binary" or len(e.children) != 2:
        return None
    a, b = (_value(c, facts, api) for c in e.children)
    truth = [None if v is None else (v == "nonzero" or v != 0) for v in (a, b)]
    if e.op == "&&":
        return 0 if False in truth else (1 if truth == [True, True] else None)
    if e.op == "||":
        return 1 if True in truth else (0 if truth == [False, False] else None)
    if e.op in ("<", ">", "<=", ">=") and isinstance(a, int) and isinstance(b, int):
        return int({"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[e.op])
    if e.op in ("==", "!="):
        if isinstance(a, int) and isinstance(b, int):
            equal = a == b
        elif (a == "nonzero" and b == 0) or (b == "nonzero" and a == 0):
            equal = False
        else:
            return None
        return int(equal == (e.op == "=="))
    return None


def _integer(text: str) -> int | None:
    text = text.strip().rstrip("uUlL")
    try:
        return int(text, 0)
    except ValueError:
        return None
