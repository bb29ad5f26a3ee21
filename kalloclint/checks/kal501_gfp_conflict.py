"""KAL501 gfp-conflict: GFP flags that contradict each other."""

from __future__ import annotations

from kalloclint.checks import Check


class GfpConflict(Check):
    """
    ## What it does
    Finds GFP flag expressions that ask for contradictory things: `__GFP_NOFAIL` with `__GFP_NORETRY` or
    `__GFP_RETRY_MAYFAIL`; two base sets OR-ed together (`GFP_KERNEL | GFP_ATOMIC`); `__GFP_DMA` with
    `__GFP_DMA32`; `__GFP_NOFAIL` without direct reclaim (`GFP_ATOMIC | __GFP_NOFAIL`). Flags are
    evaluated by their bits as the model defines them, in the GFP argument of any call.

    ## Why is this bad?
    The allocator cannot honour both requests, so one is dropped silently. `GFP_KERNEL | GFP_ATOMIC`
    contains `__GFP_DIRECT_RECLAIM` and may sleep although the author asked for an atomic allocation;
    `__GFP_NOFAIL` without direct reclaim cannot make progress and the kernel warns.

    ## Example
    ```c
    skb = alloc_skb(len, GFP_KERNEL | GFP_ATOMIC);
    obj = kmalloc(sizeof(*obj), GFP_KERNEL | __GFP_NOFAIL | __GFP_NORETRY);
    ```

    ## Use instead
    ```c
    skb = alloc_skb(len, GFP_ATOMIC);
    obj = kmalloc(sizeof(*obj), GFP_KERNEL | __GFP_NOFAIL);
    ```

    ## Fix safety
    No fix is offered: which of the two requests is the intended one needs a human.

    ## References
    - include/linux/gfp_types.h (the flag definitions and their documented combinations)
    - Documentation/core-api/memory-allocation.rst ("GFP_KERNEL | __GFP_NOFAIL ... loops until success")
    """

    code = "KAL501"
    name = "gfp-conflict"
    severity = "error"

    def run(self, ctx):
        gfp = ctx.model.gfp
        for _function, _call, arg in ctx.gfp_args():
            problem = _conflict(gfp, arg)
            if problem:
                yield ctx.finding(self, arg.span, f"GFP flags '{arg.text}' conflict: {problem}")


def _conflict(gfp, arg) -> str | None:
    bases = []
    for term in gfp.or_terms(arg):
        if term.kind == "ident" and term.text in gfp.base and term.text not in bases:
            bases.append(term.text)
    if len(bases) >= 2:
        return f"{bases[0]} and {bases[1]} are two different base sets"
    mask = gfp.named_bits(arg)
    for a, b in gfp.conflicts:
        if mask & gfp.bit(a) and mask & gfp.bit(b):
            return f"{a} contradicts {b}"
    value = gfp.evaluate(arg)
    if value is not None:
        for flag, needed in gfp.requires:
            if value.mask & gfp.bit(flag) and not value.mask & gfp.bit(needed):
                return f"{flag} needs {needed}, which these flags lack"
    return None
