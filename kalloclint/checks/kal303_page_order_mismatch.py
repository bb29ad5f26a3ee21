"""KAL303 page-order-mismatch: pages freed with another order than they were allocated with."""

from __future__ import annotations

from kalloclint.analysis.fold import CInt
from kalloclint.analysis.lifetimes import origins_of
from kalloclint.analysis.pointers import unwrap
from kalloclint.checks import Check


class PageOrderMismatch(Check):
    """
    ## What it does
    Finds free_pages(), __free_pages(), free_page() and __free_page() whose order, folded at compile
    time, differs from the order of every allocation that may reach them (alloc_pages(),
    __get_free_pages(), alloc_page(), get_zeroed_page(), ...). The pages are followed like KAL301
    follows memory: through locals, struct fields across the functions of the file, and wrappers.
    `alloc_page()`, `__get_free_page()`, `free_page()` and `__free_page()` mean order 0.

    ## Why is this bad?
    The page allocator does not remember the order of a block: it trusts the caller. Freeing an
    order-2 block as order 0 leaks three pages; freeing an order-0 page as order 2 hands pages that
    belong to someone else back to the buddy allocator, a memory corruption.

    ## Example
    ```c
    buf = __get_free_pages(GFP_KERNEL, 2);
    ...
    free_page(buf);
    ```

    ## Use instead
    ```c
    free_pages(buf, 2);
    ```

    ## Fix safety
    There is no automatic fix: keep the order in one place (a macro or a field) and use it for both.

    ## References
    - mm/page_alloc.c __free_pages(), free_pages()
    - include/linux/gfp.h (`#define free_page(addr) free_pages((addr), 0)`)
    """

    code = "KAL303"
    name = "page-order-mismatch"
    severity = "error"

    def run(self, ctx):
        model = ctx.model
        lifetimes = ctx.lifetimes()
        for function, call, held in lifetimes.frees():
            free = model.frees[call.name]
            origins = origins_of(held)
            if origins is None or not all(model.families[f].orders for f in free.families):
                continue
            freed = _order(ctx, function, call, free.order)
            if freed is None:
                continue
            allocated = []
            for origin in origins:
                found = lifetimes.allocation(origin)
                allocator = model.allocators.get(origin.allocator)
                if found is None or allocator is None or origin.family not in free.families:
                    allocated = None
                    break
                order = _order(ctx, found[0], found[1], allocator.order)
                if order is None or order == freed:
                    allocated = None
                    break
                allocated.append((origin, order))
            if not allocated:
                continue
            pointer = unwrap(call.args[free.ptr]).text
            shown = " or ".join(f"order {order} by {o.allocator}() at line {ctx.line(o.site)}"
                                for o, order in allocated[:3])
            yield ctx.finding(
                self, call.span,
                f"{call.name}() frees '{pointer}' as order {freed}, but it was allocated as {shown}",
                related=tuple(ctx.related(o.site, f"allocated here as order {order}") for o, order in allocated[:3]))


def _order(ctx, function, call, position: int | None) -> int | None:
    """The folded order argument; 0 for the calls that take none (alloc_page, free_page, ...)."""
    if position is None:
        return 0
    if position >= len(call.args):
        return None
    value = ctx.fold(call.args[position], function)
    return value.value if isinstance(value, CInt) else None
