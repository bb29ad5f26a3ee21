"""Branch outcomes that hold on every path to a CFG node, early returns included.

A node's structural nesting (`Node.under`) misses the common kernel shape
`if (!wait) return 0; msleep(10);` where the sleep is reached only when `wait` is true, and
`if (ops->request) return ops->request(...); fallback(...);` where the fallback runs only for drivers
without the callback. Dominance over branch edges sees both."""

from __future__ import annotations

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
