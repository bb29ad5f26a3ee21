"""KAL103 sleep-in-atomic: a call that may sleep, where the kernel must not sleep."""

from __future__ import annotations

from kalloclint.analysis.indirect import sleeping_indirect_calls
from kalloclint.analysis.wholetree import describe_chain, tree_finding
from kalloclint.checks import Check


class SleepInAtomic(Check):
    """
    ## What it does
    Finds calls that may sleep made in atomic context: known sleepers from the model (`mutex_lock*`,
    `msleep`, `usleep_range`, `schedule*`, `wait_event*`, `wait_for_completion*`, `down*`,
    `copy_{from,to}_user`, `get_user`/`put_user`, `request_firmware`, `flush_work`, `cancel_*_sync`,
    `synchronize_rcu`, `kthread_stop`, `*_cansleep` GPIO, I2C and SPI transfers, and the polling macros
    `read*_poll_timeout`/`regmap_read_poll_timeout` unless their sleep interval is 0, ...) with a spinlock held, inside an RCU read-side section, with
    preemption, interrupts or bottom halves disabled, or in a hardirq, softirq or NMI handler. Project
    functions that may sleep count too, through any number of calls and across files: the finding sits
    on the call made in atomic context and its message shows the whole chain down to the sleeping
    operation (`rx_refill() -> buf_grow() -> krealloc(GFP_KERNEL) at ring.c:88`), with each hop as a
    related location. A callee that takes its GFP flags from a parameter, picks them from a bool
    parameter, or sleeps only under a test of a parameter against a constant (`if (len > SMALL)`), is
    judged with the caller's argument (an unknown value may sleep, but for a bit test of flags). Functions
    called from atomic context get no finding of their own: the root call is reported, once. A call
    through a function pointer in a struct field (`dev->ops->add_sa(...)`) is reported when every function
    stored in that field in the tree (of that struct type, when it is known) may sleep; the message names
    the target and its chain. Such a call elsewhere makes its function one that may sleep, and its callers
    in atomic context are reported with the hop in the chain (`dev->ops->reset() [= fw_reset()]`).

    ## Why is this bad?
    Sleeping in atomic context schedules away while holding a spinlock or from interrupt context: other
    CPUs spin forever on the lock, RCU grace periods stall, or the scheduler is corrupted. Lockdep and
    `CONFIG_DEBUG_ATOMIC_SLEEP` catch it only when the path runs.

    ## Example
    ```c
    spin_lock_bh(&priv->lock);
    msleep(10);
    ```

    ## Use instead
    Wait without sleeping (`udelay`, `readx_poll_timeout_atomic`), or restructure so the wait happens
    outside the atomic section (drop the lock, or defer the work to a workqueue).

    ## Fix safety
    No fix is offered.

    ## References
    - Documentation/locking/locktypes.rst (what may sleep under which lock)
    - include/linux/kernel.h might_sleep(); Documentation/timers/delay_sleep_functions.rst
    """

    code = "KAL103"
    name = "sleep-in-atomic"
    severity = "error"

    def run(self, ctx):
        contexts = ctx.model.contexts
        candidates = contexts.sleepers | contexts.poll_sleepers.keys()
        for function in ctx.facts.functions:
            for call in function.calls:
                if call.in_error or call.name not in candidates or not ctx.sleeps(function, call):
                    continue
                reason = ctx.atomic_reason(function, call)
                if reason is not None:
                    yield ctx.finding(self, call.span, f"{call.name}() may sleep, but {reason.text}",
                                      related=ctx.reason_related(reason))

    def run_tree(self, tree):
        for f, site, reason, chain in tree.sleeping_calls_in_atomic():
            message = (f"{site.callee}() may sleep ({describe_chain(f.name, chain, f.path)}), "
                       f"but {reason.text}")
            yield tree_finding(self, f.path, site.span, site.location, message, reason, chain)
        for f, site, reason, target, chain in sleeping_indirect_calls(tree):
            message = (f"{site.callee}() may sleep: it calls {target}() through .{site.slot.field} "
                       f"({describe_chain(f.name, chain, f.path)}), but {reason.text}")
            yield tree_finding(self, f.path, site.span, site.location, message, reason, chain)
        for f, op, reason in tree.foreign_role_ops():
            if op.code == self.code:
                yield tree_finding(self, f.path, op.span, op.location, f"{op.text} may sleep, but {reason.text}",
                                   reason)
