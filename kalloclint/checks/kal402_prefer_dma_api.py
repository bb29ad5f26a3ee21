"""KAL402 prefer-dma-api: DMA zone flags given to kmalloc or the page allocator."""

from __future__ import annotations

from kalloclint.checks import Check


class PreferDmaApi(Check):
    """
    ## What it does
    Finds `GFP_DMA`, `GFP_DMA32`, `__GFP_DMA` or `__GFP_DMA32` in the GFP flags of a kmalloc-family
    allocation (kmalloc, kzalloc, kcalloc, devm_kzalloc, ...) or of the page allocator
    (alloc_pages, __get_free_pages, get_zeroed_page, ...). Code of an architecture whose DMA zone is
    its own addressing limit is left alone: on s390 (`drivers/s390/`, `arch/s390/`) GFP_DMA asks for
    memory below 2 GiB for channel programs and firmware blocks, which no device maps
    (`dma_zone_arch_paths` in rules/gfp.toml).

    ## Why is this bad?
    A zone flag only says where the memory is in physical address space. It does not map the buffer
    for the device, does not go through the IOMMU, and does nothing for cache coherency, so it works
    on some machines only. The DMA API allocates memory the device can reach and gives its DMA address.

    ## Example
    ```c
    buf = kmalloc(RX_BUF_SIZE, GFP_KERNEL | GFP_DMA);
    ```

    ## Use instead
    ```c
    buf = dma_alloc_coherent(&pdev->dev, RX_BUF_SIZE, &buf_dma, GFP_KERNEL);
    ```

    ## Fix safety
    No fix is offered: the DMA API needs the device and returns the bus address, which the code must
    then use.

    ## References
    - Documentation/core-api/dma-api-howto.rst
    - Documentation/core-api/memory-allocation.rst ("GFP_DMA ... prefer the dma_alloc_* APIs")
    - arch/s390/include/asm/dma.h (the s390 zone split at 2 GiB "caused by the 31 bit heritage")
    """

    code = "KAL402"
    name = "prefer-dma-api"
    severity = "warning"

    def run(self, ctx):
        gfp = ctx.model.gfp
        if gfp.dma_zone_is_arch_limit(ctx.facts.path):
            return  # s390: the zone is the 31-bit limit of channel I/O, not a device's reach
        for site in ctx.alloc_sites():
            allocator = site.allocator
            flags = site.arg(allocator.gfp)
            if allocator.limit not in ("kmalloc", "pages") or flags is None or flags.kind == "opaque":
                continue
            if gfp.named_bits(flags) & gfp.dma:
                yield ctx.finding(
                    self, site.call.span,
                    f"{allocator.name}() with DMA zone flags '{flags.text}'; use dma_alloc_coherent() or "
                    f"dma_alloc_noncoherent() for DMA buffers")
