"""Branch outcomes that hold on every path to a CFG node, early returns included, and what a branch
condition says about the function's parameters (tests against constants that a caller's argument decides).

A node's structural nesting (`Node.under`) misses the common kernel shape
`if (!wait) return 0; msleep(10);` where the sleep is reached only when `wait` is true, and
`if (ops->request) return ops->request(...); fallback(...);` where the fallback runs only for drivers
without the callback. Dominance over branch edges sees both."""

from __future__ import annotations

from typing import Callable, NamedTuple

from kalloclint.analysis.cfg import Cfg
from kalloclint.frontend.facts import Expr

Edge = tuple[int, bool]  # (branch node id, the outcome taken)


def dominating_edges(cfg: Cfg) -> list[frozenset[Edge]]:
    """For each node, the branch edges taken on every path from the entry to it (a must-analysis:
    intersection at joins). Unreachable nodes get the empty set."""
    preds = cfg.preds()
    branches = [node.cond is not None for node in cfg.nodes]
    state: list[frozenset[Edge] | None] = [None] * len(cfg.nodes)  # None: not reached yet (top)
    state[cfg.entry] = frozenset()
    changed = True
    while changed:
        changed = False
        for node in cfg.nodes:
            if node.id == cfg.entry:
                continue
            met: frozenset[Edge] | None = None
            for pred, polarity in preds[node.id]:
                incoming = state[pred]
                if incoming is None:
                    continue
                if polarity is not None and branches[pred]:
                    incoming = incoming | {(pred, polarity)}
                met = incoming if met is None else met & incoming
            if met is not None and met != state[node.id]:
                state[node.id] = met
                changed = True
    return [s if s is not None else frozenset() for s in state]


def called_test(cond: Expr | None, names: frozenset[str], hints: frozenset[str]) -> bool | None:
    """When a condition is exactly a call to one of `names`, maybe negated or wrapped in a branch hint
    (likely()/unlikely()): the outcome on which that call returned true; else None."""
    if cond is None:
        return None
    node, taken = cond.strip(hints), True
    while node.kind == "unary" and node.op == "!" and node.children:
        node, taken = node.children[0].strip(hints), not taken
    return taken if node.kind == "call" and node.op in names else None


class Cond(NamedTuple):
    """A test of parameter `param` against a constant: `param op value`, where op is a C comparison, `&`
    (a bit of `value` is set) or `!&` (none is)."""

    param: int
    op: str
    value: int


_NEGATED = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", ">": "<=", "<=": ">", "&": "!&", "!&": "&"}
_MIRRORED = {"==": "==", "!=": "!=", "<": ">", ">": "<", "<=": ">=", ">=": "<="}
# what a condition says about the parameters on each outcome (true, false): conditions that all hold,
# () when it constrains nothing the caller passes, None when it cannot be written as such conditions
Outcomes = tuple[tuple[Cond, ...] | None, tuple[Cond, ...] | None]


def holds(cond: Cond, value: int) -> bool:
    """Does the condition hold for this value of its parameter?"""
    op, k = cond.op, cond.value
    if op == "&":
        return bool(value & k)
    if op == "!&":
        return not value & k
    return {"==": value == k, "!=": value != k, "<": value < k, "<=": value <= k, ">": value > k,
            ">=": value >= k}[op]


def negate(cond: Cond) -> Cond:
    return Cond(cond.param, _NEGATED[cond.op], cond.value)


def param_conditions(cond: Expr, params: dict[str, int], fold: Callable[[Expr], int | None],
                     is_constant: Callable[[Expr], bool], hints: frozenset[str]) -> Outcomes:
    """What a branch condition says about the function's parameters on its true and false outcomes:
    `len > SMALL`, `mode == MODE_SLEEP`, `flags & ASYNC`, `!(flags & ASYNC)`, `(flags & ASYNC) == 0`, and
    `&&` / `||` of those. A comparison with data the caller does not pass (`want > c->len`) constrains
    nothing; tests of parameters in other shapes (two parameters, a constant that does not fold) are None.
    `fold` gives a constant's value or None."""
    e = cond.strip(hints)
    if not _mentions(e, params):
        return None, None  # a member named like a parameter (`!vdev->stats`): not a test of a value
    return _outcomes(e, params, fold, is_constant, hints)


def _outcomes(e: Expr, params: dict[str, int], fold: Callable[[Expr], int | None],
              is_constant: Callable[[Expr], bool], hints: frozenset[str]) -> Outcomes:
    if e.kind == "unary" and e.op == "!" and e.children:
        true, false = _outcomes(e.children[0].strip(hints), params, fold, is_constant, hints)
        return false, true
    if e.kind == "binary" and len(e.children) == 2 and e.op in ("&&", "||"):
        (lt, lf), (rt, rf) = (_outcomes(c.strip(hints), params, fold, is_constant, hints) for c in e.children)
        if e.op == "&&":
            return _both(lt, rt), None
        return None, _both(lf, rf)
    if not _mentions(e, params):
        return (), ()
    found = _compare(e, params, fold, is_constant, hints)
    if found is None:
        return None, None
    if found == ():
        return (), ()
    return (found,), (negate(found),)


def _both(a: tuple[Cond, ...] | None, b: tuple[Cond, ...] | None) -> tuple[Cond, ...] | None:
    return a + b if a is not None and b is not None else None


def _compare(e: Expr, params: dict[str, int], fold: Callable[[Expr], int | None],
             is_constant: Callable[[Expr], bool], hints: frozenset[str]) -> Cond | tuple[()] | None:
    """One test of a parameter as a Cond (true outcome), () when the other side is data the caller does
    not pass, None when neither."""
    param = _param(e, params, hints)
    if param is not None:
        return Cond(param, "!=", 0)
    if e.kind != "binary" or len(e.children) != 2:
        return None
    left, right = e.children
    if e.op == "&":
        for p, k in ((left, right), (right, left)):
            index, value = _param(p, params, hints), fold(k)
            if index is not None and value is not None:
                return Cond(index, "&", value)
        return None
    if e.op not in _MIRRORED:
        return None
    for p, k, op in ((left, right, e.op), (right, left, _MIRRORED[e.op])):
        if k.kind == "number" and fold(k) == 0 and op in ("==", "!="):
            bits = _compare(p.strip(hints), params, fold, is_constant, hints)  # `(flags & ASYNC) == 0`
            if isinstance(bits, Cond) and bits.op == "&":
                return bits if op == "!=" else negate(bits)
        index = _param(p, params, hints)
        if index is None:
            continue
        if _mentions(k, params):
            return None
        if not is_constant(k):
            return ()  # `want > c->len`: the caller cannot rule it out with what it passes
        value = fold(k)
        return Cond(index, op, value) if value is not None else None
    return None


def _mentions(e: Expr, params: dict[str, int]) -> bool:
    """Does the expression use a parameter's value (`len`, `buf[len]`), not data reached through one
    (`c->len`, `buf[0]`)?"""
    if e.kind == "ident":
        return e.text in params
    if e.kind == "field":
        return False
    children = e.children[1:] if e.kind == "subscript" else e.children
    return any(_mentions(c, params) for c in children)


def _param(e: Expr, params: dict[str, int], hints: frozenset[str]) -> int | None:
    """The parameter an expression is, through parentheses and casts."""
    e = e.strip(hints)
    while e.kind == "cast" and len(e.children) == 2:
        e = e.children[1].strip(hints)
    return params.get(e.text) if e.kind == "ident" else None
