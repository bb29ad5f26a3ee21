"""KAL106 needless-atomic-gfp: GFP_ATOMIC or GFP_NOWAIT where the code can sleep."""

from __future__ import annotations

from kalloclint.analysis.wholetree import tree_finding
from kalloclint.checks import Check


class NeedlessAtomicGfp(Check):
    """
    ## What it does
    Finds `GFP_ATOMIC` / `GFP_NOWAIT` allocations in code known to be able to sleep — probe, remove,
    init and exit functions, work items, threaded interrupt handlers, kthreads, or with a mutex or
    semaphore held and no spinlock — when no caller anywhere in the checked tree reaches the code in
    atomic context (no atomic handler role, no call from a lock region or atomic handler, directly or
    through other functions).

    ## Why is this bad?
    `GFP_ATOMIC` cannot reclaim memory: it fails far more often under pressure, and it draws on the
    emergency reserves meant for code that really cannot sleep (interrupt handlers, the network
    receive path). Where sleeping is allowed, `GFP_KERNEL` succeeds where `GFP_ATOMIC` fails.

    ## Example
    ```c
    static int foo_probe(struct platform_device *pdev)
    {
    	priv->ring = kcalloc(RING_SIZE, sizeof(*priv->ring), GFP_ATOMIC);
    ```

    ## Use instead
    ```c
    	priv->ring = kcalloc(RING_SIZE, sizeof(*priv->ring), GFP_KERNEL);
    ```

    ## Fix safety
    No fix is offered: a caller outside the checked files, or through a function pointer the model
    does not know, may still call the code in atomic context.

    ## References
    - Documentation/core-api/memory-allocation.rst ("GFP_ATOMIC ... accesses a portion of memory
      reserves"; "use GFP_KERNEL from process context")
    """

    code = "KAL106"
    name = "needless-atomic-gfp"
    severity = "warning"

    def run(self, ctx):
        return iter(())  # decided in the whole-tree phase, once every caller is known

    def run_tree(self, tree):
        for f, alloc, why in tree.needless_atomic():
            yield tree_finding(self, f.path, alloc.span, alloc.location,
                               f"{alloc.flags} where sleeping is allowed: {why}, and no caller reaches it in "
                               f"atomic context; use GFP_KERNEL")
