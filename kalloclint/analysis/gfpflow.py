"""Which GFP values reach each call through local variables, optionally assuming values of bool parameters."""

from __future__ import annotations

from dataclasses import dataclass

from kalloclint.analysis.cfg import Cfg, Node
from kalloclint.analysis.dataflow import solve_forward
from kalloclint.frontend.facts import Call, Expr
from kalloclint.model.gfp import GfpAlgebra, GfpValue

UNKNOWN = -1  # a value that is not a GFP constant (a parameter, a field, a call)
Reaching = frozenset[tuple[str, int]]  # (local name, GFP mask or UNKNOWN)


@dataclass(slots=True)
class GfpFlow:
    """The GFP masks each recorded local may hold just before each call."""

    before: dict[int, Reaching]  # call span start -> reaching (name, mask) pairs

    def values(self, call: Call, name: str) -> frozenset[int] | None:
        """The masks `name` may hold at the call, or None when no assignment of it reaches there."""
        found = frozenset(m for n, m in self.before.get(call.span.start, frozenset()) if n == name)
        return found or None


def bool_test(cond: Expr | None, hints: frozenset[str]) -> tuple[str, bool] | None:
    """`p`, `!p`, `likely(p)`: the identifier tested and whether the condition is its truth."""
    if cond is None:
        return None
    e = cond.strip(hints)
    if e.kind == "unary" and e.op == "!" and e.children:
        inner = bool_test(e.children[0], hints)
        return (inner[0], not inner[1]) if inner is not None else None
    if e.kind in ("ident", "opaque") and e.text.isidentifier():
        return e.text, True
    return None


def choose(expr: Expr, assume: dict[str, bool], hints: frozenset[str]) -> Expr:
    """The arm a conditional picks under the assumed values (`atomic ? GFP_ATOMIC : GFP_KERNEL` with
    `atomic` false is `GFP_KERNEL`); the expression itself when its test is not assumed."""
    e = expr.strip(hints)
    while e.kind == "conditional" and len(e.children) == 3:
        test = bool_test(e.children[0], hints)
        if test is None or test[0] not in assume:
            break
        e = e.children[1 if assume[test[0]] == test[1] else 2].strip(hints)
    return e


def analyse_gfp(cfg: Cfg, gfp: GfpAlgebra, assume: dict[str, bool] | None = None,
                hints: frozenset[str] = frozenset()) -> GfpFlow:
    """Reaching GFP values of locals; with `assume`, branches and conditionals (`a ? x : y`) on those
    identifiers go one way only (tests read through the branch hints `hints`)."""
    assume = assume or {}

    def run(node: Node, state: Reaching) -> Reaching:
        for event in node.events:
            if event.kind == "assign":
                name = event.assign.name
                value = gfp.evaluate(choose(event.assign.value, assume, hints), _as_locals(state, gfp))
                mask = value.mask if value is not None else UNKNOWN
                state = frozenset(p for p in state if p[0] != name) | {(name, mask)}
        return state

    def along(node: Node, polarity: bool | None, state: Reaching) -> Reaching | None:
        if polarity is None or not assume:
            return state
        test = bool_test(node.cond, hints)
        if test is not None and test[0] in assume and assume[test[0]] != (polarity == test[1]):
            return None
        return state

    state_in = solve_forward(cfg, frozenset(), run, along, frozenset.union)
    before: dict[int, Reaching] = {}
    for node in cfg.nodes:
        state = state_in[node.id]
        if state is None:
            continue
        for event in node.events:
            if event.kind == "call":
                before[event.call.span.start] = state
            elif event.kind == "assign":
                state = run(Node(-1, [event]), state)
    return GfpFlow(before)


def _as_locals(state: Reaching, gfp: GfpAlgebra) -> dict[str, GfpValue]:
    """Locals with exactly one known reaching value, for evaluating `gfp | __GFP_ZERO`-style updates."""
    masks: dict[str, set[int]] = {}
    for name, mask in state:
        masks.setdefault(name, set()).add(mask)
    return {n: GfpValue(next(iter(m)), ()) for n, m in masks.items() if len(m) == 1 and UNKNOWN not in m}
