"""KAL105 alloc-in-raw-atomic: a GFP_ATOMIC allocation where even PREEMPT_RT may not sleep."""

from __future__ import annotations

from kalloclint.checks import Check


class AllocInRawAtomic(Check):
    """
    ## What it does
    Finds non-sleeping allocations (`GFP_ATOMIC`, `GFP_NOWAIT`) while a raw spinlock is held, with
    preemption disabled (`preempt_disable`, `get_cpu`) or interrupts disabled (`local_irq_disable`,
    `local_irq_save`), or in hardirq handlers registered with `IRQF_NO_THREAD` (or `IRQF_TIMER`). Plain
    spinlock regions do not count: on PREEMPT_RT they become sleeping locks and the allocation is fine.

    ## Why is this bad?
    On PREEMPT_RT the slab and page allocators take sleeping locks even for `GFP_ATOMIC`, so allocating
    in a truly atomic region is a "sleeping function called from invalid context" bug on RT kernels.

    ## Example
    ```c
    raw_spin_lock(&ctrl->lock);
    msg = kmalloc(sizeof(*msg), GFP_ATOMIC);
    ```

    ## Use instead
    Allocate before entering the region, use a pre-allocated pool, or protect the data with a plain
    `spinlock_t` if nothing forces a raw lock.

    ## Fix safety
    No fix is offered.

    ## References
    - Documentation/core-api/memory-allocation.rst ("GFP_ATOMIC is not supported ... in contexts that
      disable preemption under PREEMPT_RT")
    - Documentation/locking/locktypes.rst (raw_spinlock_t and PREEMPT_RT)
    """

    code = "KAL105"
    name = "alloc-in-raw-atomic"
    severity = "warning"

    def run(self, ctx):
        gfp = ctx.model.gfp
        for function in ctx.facts.functions:
            for call in function.calls:
                if call.in_error:
                    continue
                found = ctx.gfp_of(function, call)
                if found is None or gfp.may_sleep(found[1]):
                    continue  # sleeping flags there are KAL101
                reason = ctx.atomic_reason(function, call, raw_only=True)
                if reason is None or reason.nmi:
                    continue
                flags = " ".join(found[0].text.split())
                yield ctx.finding(self, call.span,
                                  f"{call.name}() with {flags} while {reason.text}: allocating is not allowed "
                                  f"there on PREEMPT_RT", related=ctx.reason_related(reason))
