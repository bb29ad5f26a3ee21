"""KAL101 sleeping-gfp-in-atomic: GFP flags that allow direct reclaim, where the kernel must not sleep."""

from __future__ import annotations

from kalloclint.analysis.wholetree import tree_finding
from kalloclint.checks import Check
from kalloclint.findings import Fix


class SleepingGfpInAtomic(Check):
    """
    ## What it does
    Finds calls whose GFP flags allow direct reclaim (`GFP_KERNEL`, `GFP_NOFS`, `GFP_NOIO`, `GFP_USER`,
    `GFP_KERNEL_ACCOUNT`, anything with `__GFP_DIRECT_RECLAIM`) in atomic context: with a spinlock or
    rwlock held, inside `rcu_read_lock()`, with preemption, interrupts or bottom halves disabled, or in
    a function registered as a hardirq, softirq, timer, tasklet or NAPI handler. Any function taking a
    `gfp_t` counts (kmalloc and friends, `idr_alloc`, `xa_store`, `alloc_skb`, `dma_alloc_coherent`,
    ...); flags are judged by their bits, including `|`, `& ~` and `gfp_t` locals assigned constants.
    The finding sits on the GFP argument and says what made the context atomic.

    ## Why is this bad?
    Direct reclaim may block waiting for I/O or writeback. Sleeping with a spinlock held or in interrupt
    context deadlocks or corrupts scheduler state; with `CONFIG_DEBUG_ATOMIC_SLEEP` the kernel prints
    "BUG: sleeping function called from invalid context". The bug hides until memory is tight.

    ## Example
    ```c
    spin_lock(&priv->lock);
    entry = kzalloc(sizeof(*entry), GFP_KERNEL);
    ```

    ## Use instead
    Allocate before taking the lock (best), or use a non-sleeping allocation and handle its failure:
    ```c
    entry = kzalloc(sizeof(*entry), GFP_KERNEL);
    spin_lock(&priv->lock);
    ```

    ## Fix safety
    The offered fix replaces the sleeping flags with `GFP_ATOMIC`. It is unsafe: `GFP_ATOMIC` draws on
    emergency reserves and fails more often; moving the allocation out of the atomic region is usually
    the right change.

    ## References
    - Documentation/core-api/memory-allocation.rst ("GFP_KERNEL ... the calling context must be allowed to
      sleep"; "GFP_ATOMIC ... interrupt handlers, softirqs, and other atomic contexts")
    - include/linux/gfp_types.h (`__GFP_DIRECT_RECLAIM`, GFP_KERNEL, GFP_ATOMIC)
    - Documentation/locking/spinlocks.rst
    """

    code = "KAL101"
    name = "sleeping-gfp-in-atomic"
    severity = "error"

    def run(self, ctx):
        gfp = ctx.model.gfp
        allocators = ctx.model.allocators
        for function in ctx.facts.functions:
            for call in function.calls:
                if call.in_error:
                    continue
                allocator = allocators.get(call.name)
                if allocator is not None and (allocator.sleeps == "always" or allocator.family == "kvmalloc"):
                    continue  # KAL102 reports the vmalloc family
                found = ctx.gfp_of(function, call)
                if found is None or not gfp.may_sleep(found[1]):
                    continue
                reason = ctx.atomic_reason(function, call)
                if reason is None or reason.nmi:
                    continue  # KAL104 reports allocations in NMI context
                arg, value = found
                shown = arg.text if gfp.mentions_gfp(arg) else f"'{arg.text}' ({gfp.describe_base(value)})"
                yield ctx.finding(self, arg.span, f"{shown} may sleep, but {reason.text}",
                                  fix=_atomic_fix(ctx, arg), related=ctx.reason_related(reason))

    def run_tree(self, tree):
        """Handlers registered for atomic context in another file than the one defining them."""
        for f, op, reason in tree.foreign_role_ops():
            if op.code == self.code and op.arg_span is not None and "NMI" not in reason.text:
                flags = op.text[op.text.index("(") + 1:-1]
                yield tree_finding(self, f.path, op.arg_span, op.arg_location, f"{flags} may sleep, but {reason.text}",
                                   reason)


def _atomic_fix(ctx, arg) -> Fix | None:
    """Replace the one sleeping base set (GFP_KERNEL, GFP_NOFS, ...) in the flags with GFP_ATOMIC."""
    gfp = ctx.model.gfp
    terms = [t for t in gfp.or_terms(arg) if t.kind == "ident" and t.text in gfp.base
             and gfp.may_sleep(gfp.evaluate(t))]
    if len(terms) != 1:
        return None
    return Fix("Use GFP_ATOMIC (often better: allocate before entering the atomic section)", "unsafe",
               (ctx.replace(terms[0].span, "GFP_ATOMIC"),))
