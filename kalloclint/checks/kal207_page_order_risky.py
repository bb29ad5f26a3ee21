"""KAL207 page-order-risky: a page-allocator order that always fails, likely fails, or makes the kernel warn."""

from __future__ import annotations

from kalloclint.analysis.fold import CInt
from kalloclint.checks import Check


class PageOrderRisky(Check):
    """
    ## What it does
    Finds page-allocator calls whose order, folded at compile time, always fails, is likely to fail, or
    makes the kernel warn. The calls are alloc_pages, alloc_pages_node and __get_free_pages; the order
    may be a literal, `get_order(SZ_8M)`, a macro or an enum constant. It is reported when it is:
    - above MAX_PAGE_ORDER of the selected arch profile (10 on x86_64, 13 on arm64 with 64 KiB pages):
      the allocation always fails (error);
    - above PAGE_ALLOC_COSTLY_ORDER (3) with GFP flags that cannot sleep (GFP_ATOMIC, GFP_NOWAIT):
      likely to fail, since only direct reclaim and compaction make such blocks (warning);
    - above 1 with `__GFP_NOFAIL`: the kernel warns, and looping for a large block is dangerous
      (warning).

    The order depends on the page size: `get_order(SZ_8M)` is 11 with 4 KiB pages and 7 with 64 KiB pages.

    ## Why is this bad?
    The page allocator cannot return a block above MAX_PAGE_ORDER at all. Costly orders are served by
    reclaim and compaction, which a non-sleeping caller cannot wait for, so the allocation fails under
    ordinary fragmentation. `__GFP_NOFAIL` on a high order can loop for a long time, trigger the OOM
    killer, and warns at run time.

    ## Example
    ```c
    page = alloc_pages(GFP_ATOMIC, get_order(SZ_256K));
    buf = (void *)__get_free_pages(GFP_KERNEL | __GFP_NOFAIL, 4);
    ```

    ## Use instead
    ```c
    buf = vmalloc(SZ_256K);              /* from process context, when contiguity is not needed */
    buf = kvmalloc(SZ_64K, GFP_KERNEL);  /* no __GFP_NOFAIL for high orders: handle failure */
    ```
    Allocate large buffers in advance from process context, or use the DMA API for device buffers.

    ## Fix safety
    No fix is offered: the remedy moves the allocation or changes the allocator and its free.

    ## References
    - include/linux/mmzone.h (MAX_PAGE_ORDER, PAGE_ALLOC_COSTLY_ORDER)
    - mm/page_alloc.c (`WARN_ON_ONCE_GFP(order > MAX_PAGE_ORDER)`; __GFP_NOFAIL: `WARN_ON_ONCE(order > 1)`)
    - Documentation/core-api/memory-allocation.rst ("GFP_KERNEL | __GFP_NOFAIL ... dangerous for large orders")
    """

    code = "KAL207"
    name = "page-order-risky"
    severity = "error"

    def run(self, ctx):
        profile = ctx.folder.profile if ctx.folder is not None else None
        if profile is None:
            return
        gfp = ctx.model.gfp
        for site in ctx.alloc_sites():
            allocator = site.allocator
            order_arg = site.arg(allocator.order)
            if allocator.limit != "pages" or order_arg is None or order_arg.kind == "opaque":
                continue
            order = ctx.fold(order_arg, site.function)
            if not isinstance(order, CInt):
                continue
            said = order_arg.text if order_arg.text.strip() == str(order.value) else \
                f"{order.value} ('{order_arg.text}')"
            call = f"{allocator.name}() order {said}"
            if order.value > profile.max_page_order:
                yield ctx.finding(self, order_arg.span,
                                  f"{call} is above MAX_PAGE_ORDER ({profile.max_page_order}) on {profile.name}: "
                                  f"the allocation always fails")
                continue
            flags = ctx.gfp_of(site.function, site.call)
            if flags is None:
                continue
            arg, value = flags
            if order.value > profile.page_alloc_costly_order and not gfp.may_sleep(value):
                yield ctx.finding(self, order_arg.span,
                                  f"{call} is above PAGE_ALLOC_COSTLY_ORDER ({profile.page_alloc_costly_order}) "
                                  f"with non-sleeping flags '{arg.text}': without reclaim and compaction it "
                                  f"is likely to fail", severity="warning")
            elif order.value > 1 and (gfp.named_bits(arg) | value.mask) & gfp.bit("__GFP_NOFAIL"):
                yield ctx.finding(self, order_arg.span,
                                  f"{call} with __GFP_NOFAIL: the kernel warns above order 1, and looping "
                                  f"for a large block is dangerous; handle failure instead", severity="warning")
