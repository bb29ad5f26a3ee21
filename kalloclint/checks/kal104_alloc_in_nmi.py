"""KAL104 alloc-in-nmi: any allocation in NMI context."""

from __future__ import annotations

from kalloclint.analysis.wholetree import tree_finding
from kalloclint.checks import Check


class AllocInNmi(Check):
    """
    ## What it does
    Finds allocations (any modelled allocator, or any call given GFP flags) in a function registered
    as an NMI handler (`register_nmi_handler`, `request_nmi`), whatever the flags.

    ## Why is this bad?
    The allocators take locks that the interrupted code may already hold: in NMI context even
    `GFP_ATOMIC` can deadlock. NMI handlers must use memory set aside beforehand.

    ## Example
    ```c
    static int foo_nmi(unsigned int cmd, struct pt_regs *regs)
    {
    	struct sample *s = kmalloc(sizeof(*s), GFP_ATOMIC);
    ```

    ## Use instead
    A pre-allocated pool or per-CPU buffer filled before the handler is registered (or a lockless
    allocator designed for NMI, such as a `gen_pool` set up in advance).

    ## Fix safety
    No fix is offered.

    ## References
    - Documentation/core-api/memory-allocation.rst ("GFP_ATOMIC is not supported in NMI context")
    - arch/x86/include/asm/nmi.h register_nmi_handler
    """

    code = "KAL104"
    name = "alloc-in-nmi"
    severity = "error"

    def run(self, ctx):
        allocators = ctx.model.allocators
        for function in ctx.facts.functions:
            for call in function.calls:
                if call.in_error or (call.name not in allocators and ctx.gfp_of(function, call) is None):
                    continue
                reason = ctx.atomic_reason(function, call)
                if reason is not None and reason.nmi:
                    yield ctx.finding(self, call.span,
                                      f"{call.name}() allocates in NMI context: {reason.text}; use a "
                                      f"pre-allocated pool", related=ctx.reason_related(reason))

    def run_tree(self, tree):
        """NMI handlers registered in another file than the one defining them."""
        for f, span, location, text, reason in tree.foreign_nmi_allocations():
            yield tree_finding(self, f.path, span, location, f"{text} allocates in NMI context: {reason.text}; "
                               f"use a pre-allocated pool", reason)
