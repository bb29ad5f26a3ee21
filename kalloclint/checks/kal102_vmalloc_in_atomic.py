"""KAL102 vmalloc-in-atomic: vmalloc or a sleeping kvmalloc where the kernel must not sleep."""

from __future__ import annotations

from kalloclint.analysis.wholetree import tree_finding
from kalloclint.checks import Check


class VmallocInAtomic(Check):
    """
    ## What it does
    Finds `vmalloc`, `vzalloc`, `vmalloc_array`, `vcalloc`, `__vmalloc` (whatever its flags) and the
    kvmalloc family with sleeping GFP flags, called in atomic context (a spinlock held, RCU read side,
    preemption or interrupts disabled, or a hardirq/softirq handler).

    ## Why is this bad?
    vmalloc always may sleep: it allocates pages one by one and maps them, taking sleeping locks and
    allocating page tables with GFP_KERNEL, whatever flags it is given. kvmalloc with sleeping flags
    falls back to vmalloc when the slab allocation fails, so it sleeps exactly when memory is tight.

    ## Example
    ```c
    spin_lock_irqsave(&priv->lock, flags);
    priv->table = vzalloc(TABLE_SIZE);
    ```

    ## Use instead
    Allocate before taking the lock and publish the pointer under it:
    ```c
    table = vzalloc(TABLE_SIZE);
    spin_lock_irqsave(&priv->lock, flags);
    priv->table = table;
    ```

    ## Fix safety
    No fix is offered: the allocation has to move out of the atomic section.

    ## References
    - Documentation/core-api/memory-allocation.rst ("vmalloc ... may sleep; do not call it from atomic
      context"; kvmalloc "falls back to vmalloc")
    - mm/vmalloc.c, mm/util.c (kvmalloc_node)
    """

    code = "KAL102"
    name = "vmalloc-in-atomic"
    severity = "error"

    def run(self, ctx):
        gfp = ctx.model.gfp
        for site in ctx.alloc_sites():
            allocator = site.allocator
            if allocator.sleeps == "always":
                what = f"{allocator.name}() always may sleep"
            elif allocator.family == "kvmalloc":
                found = ctx.gfp_of(site.function, site.call)
                if found is None or not gfp.may_sleep(found[1]):
                    continue
                what = f"{allocator.name}() with {' '.join(found[0].text.split())} may fall back to vmalloc and sleep"
            else:
                continue
            reason = ctx.atomic_reason(site.function, site.call)
            if reason is None or reason.nmi:
                continue
            yield ctx.finding(self, site.call.span, f"{what}, but {reason.text}",
                              related=ctx.reason_related(reason))

    def run_tree(self, tree):
        """Handlers registered for atomic context in another file than the one defining them."""
        for f, op, reason in tree.foreign_role_ops():
            if op.code == self.code and "NMI" not in reason.text:
                yield tree_finding(self, f.path, op.span, op.location, f"{op.text} may sleep, but {reason.text}",
                                   reason)
