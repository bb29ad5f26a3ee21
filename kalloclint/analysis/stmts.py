"""Questions about statement sequences: what follows a statement, NULL checks, jumps."""

from __future__ import annotations

from kalloclint.frontend.facts import Expr, Function, Stmt, norm
from kalloclint.source import Span

_JUMPS = ("return", "goto", "break", "continue")


def sequence_of(body: Stmt, span: Span) -> tuple[tuple[Stmt, ...], int] | None:
    """The statement list that directly holds the statement with this exact span, and its position."""
    for stmt in walk(body):
        for i, child in enumerate(stmt.children):
            if child.span.start == span.start and child.span.end == span.end:
                return stmt.children, i
        alt = stmt.alt
        if alt is not None and alt.span.start == span.start and alt.span.end == span.end:
            return (alt,), 0
    return None


def ends_in_jump(stmt: Stmt) -> bool:
    """True when control cannot fall out of the statement: return, goto, break or continue last."""
    while stmt.kind == "block" and stmt.children:
        stmt = stmt.children[-1]
    return stmt.kind in _JUMPS


def single_statement(stmt: Stmt) -> Stmt | None:
    """The one statement of a branch: itself, or the only statement of a `{ }` block."""
    if stmt.kind == "block":
        inner = [c for c in stmt.children if c.kind != "empty"]
        return inner[0] if len(inner) == 1 else None
    return stmt


def is_null_test(cond: Expr, pointer: str, hints: frozenset[str]) -> bool:
    """`!p`, `p == NULL`, `NULL == p`, `unlikely(!p)`, `!p` among `||` alternatives."""
    e = cond.strip(hints)
    if e.kind == "binary" and e.op == "||":
        return any(is_null_test(c, pointer, hints) for c in e.children)
    if e.kind == "unary" and e.op == "!" and e.children:
        return norm(e.children[0].strip().text) == pointer
    if e.kind == "binary" and e.op == "==" and len(e.children) == 2:
        a, b = (norm(c.strip().text) for c in e.children)
        return {a, b} == {pointer, "NULL"} or {a, b} == {pointer, "0"}
    return False


def past_null_checks(seq: tuple[Stmt, ...] | list[Stmt], j: int, pointer: str, hints: frozenset[str]) -> int:
    """The position of the first statement from `j` on that is not an `if (!p) <jump>;` of `pointer`:
    what follows an allocation once its failure is handled."""
    while j < len(seq) and seq[j].kind == "if" and seq[j].alt is None and seq[j].cond is not None \
            and is_null_test(seq[j].cond, pointer, hints) and seq[j].children and ends_in_jump(seq[j].children[0]):
        j += 1
    return j


def is_nonnull_test(cond: Expr, pointer: str) -> bool:
    """`p`, `p != NULL`, `NULL != p`."""
    e = cond.strip()
    if e.kind != "binary":
        return norm(e.text) == pointer
    if e.op == "!=" and len(e.children) == 2:
        a, b = (norm(c.strip().text) for c in e.children)
        return {a, b} == {pointer, "NULL"} or {a, b} == {pointer, "0"}
    return False


def statement_call(function: Function, stmt: Stmt, names) -> object | None:
    """The call that is the whole of an expression statement, when its callee is in `names`."""
    if stmt.kind != "expr":
        return None
    for call in function.calls:
        if call.stmt is not None and call.stmt.start == stmt.span.start and call.name in names:
            return call
    return None


def walk(stmt: Stmt):
    """Every statement below and including `stmt`."""
    stack = [stmt]
    while stack:
        s = stack.pop()
        yield s
        stack.extend(s.children)
        if s.alt is not None:
            stack.append(s.alt)
