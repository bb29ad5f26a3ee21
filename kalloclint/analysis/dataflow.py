"""A generic forward dataflow solver over a CFG: worklist to a fixpoint, join at merges."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TypeVar

from kalloclint.analysis.cfg import Cfg, Node

S = TypeVar("S")


def solve_forward(cfg: Cfg, entry: S, through: Callable[[Node, S], S],
                  along: Callable[[Node, bool | None, S], S | None], join: Callable[[S, S], S]) -> list[S | None]:
    """The state on entry to every node (None: unreachable). `through` runs a node's events, `along`
    carries a state over an edge from a node (None: the edge cannot be taken), `join` merges two states."""
    preds = cfg.preds()
    state_in: list[S | None] = [None] * len(cfg.nodes)
    state_out: list[S | None] = [None] * len(cfg.nodes)
    work = deque([cfg.entry])
    queued = {cfg.entry}
    budget = 64 * len(cfg.nodes) + 64  # a monotone analysis needs far fewer visits; never hang on one function
    while work and budget > 0:
        budget -= 1
        nid = work.popleft()
        queued.discard(nid)
        incoming = entry if nid == cfg.entry else None
        for source, polarity in preds[nid]:
            out = state_out[source]
            if out is None:
                continue
            carried = along(cfg.nodes[source], polarity, out)
            if carried is not None:
                incoming = carried if incoming is None else join(incoming, carried)
        if incoming is None:
            continue
        state_in[nid] = incoming
        out = through(cfg.nodes[nid], incoming)
        if out != state_out[nid]:
            state_out[nid] = out
            for target, _ in cfg.nodes[nid].succ:
                if target not in queued:
                    queued.add(target)
                    work.append(target)
    return state_in
