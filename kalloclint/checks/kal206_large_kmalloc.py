"""KAL206 large-kmalloc: a compile-time kmalloc size above one page."""

from __future__ import annotations

from kalloclint.analysis.dmabuf import dma_buffer_names, holds_dma_buffer
from kalloclint.analysis.sizing import AllocSize, describe
from kalloclint.checks import Check
from kalloclint.model.arch import get_order


class LargeKmalloc(Check):
    """
    ## What it does
    Finds kmalloc-family allocations whose size, folded at compile time, is above PAGE_SIZE for the
    selected arch profile (and not above KMALLOC_MAX_SIZE, which KAL205 reports). For `devm_` allocations
    the devres header that devm_kmalloc() adds counts too. The same source can be fine with 64 KiB pages
    and reported with 4 KiB pages. Buffers a device reads or writes are left alone, since they must be
    contiguous: allocations with DMA zone flags, and memory the file hands to a device (`dma_map_single()`,
    a URB's or SPI transfer's buffer, `usb_bulk_msg()`, ...: `[dma_buffers]` in rules/memory.toml).

    ## Why is this bad?
    kmalloc memory is physically contiguous. A request above one page needs a higher-order block, which
    memory fragmentation can deny long after boot: the allocation then fails or stalls in compaction,
    though the same amount of memory is free in single pages.

    ## Example
    ```c
    ring->desc = kzalloc(RING_BYTES, GFP_KERNEL);       /* 64 KiB */
    ```

    ## Use instead
    ```c
    ring->desc = kvzalloc(RING_BYTES, GFP_KERNEL);      /* freed with kvfree() */
    ```
    or vzalloc() when the buffer need not be physically contiguous. Keep kmalloc when a device needs
    contiguous memory (better still, the DMA API).

    ## Fix safety
    No fix is offered: the frees must change with the allocator, and the buffer may be used for DMA.

    ## References
    - Documentation/core-api/memory-allocation.rst ("Selecting memory allocator")
    - include/linux/slab.h (KMALLOC_MAX_CACHE_SIZE: larger kmallocs go to the page allocator)
    - Documentation/core-api/dma-api-howto.rst (DMA buffers: physically contiguous, not from vmalloc)
    """

    code = "KAL206"
    name = "large-kmalloc"
    severity = "info"

    def run(self, ctx):
        profile = ctx.folder.profile if ctx.folder is not None else None
        if profile is None:
            return
        model = ctx.model
        dma_names = None
        for site in ctx.alloc_sites():
            if site.allocator.limit != "kmalloc":
                continue
            size = ctx.alloc_size(site)
            if not isinstance(size, AllocSize) or not profile.page_size < size.request <= profile.kmalloc_max_size:
                continue
            flags = site.arg(site.allocator.gfp)
            if flags is not None and model.gfp.named_bits(flags) & model.gfp.dma:
                continue  # a buffer for a device that can only reach a DMA zone
            if dma_names is None:
                dma_names = dma_buffer_names(ctx.facts.functions, model.dma_buffers)
            if holds_dma_buffer(site.function, site.call.target, dma_names, model.dma_buffers):
                continue
            order = get_order(size.request, profile.page_shift)
            yield ctx.finding(
                self, size.span,
                f"{describe(site.allocator.name, size, profile)}, more than PAGE_SIZE ({profile.page_size}) on "
                f"{profile.name}: it needs {1 << order} physically contiguous pages (order {order}); use "
                f"kvmalloc() unless the memory must be contiguous")
