"""KAL205 alloc-size-over-limit: a compile-time kmalloc size the allocator can never return."""

from __future__ import annotations

from kalloclint.analysis.sizing import AllocSize, describe
from kalloclint.checks import Check


class AllocSizeOverLimit(Check):
    """
    ## What it does
    Finds kmalloc-family allocations (kmalloc, kzalloc, kcalloc, kmalloc_array, krealloc, kmemdup,
    devm_kmalloc and friends, `_node` variants) whose size, folded at compile time, is above
    KMALLOC_MAX_SIZE for the selected arch profile: 4 MiB on x86_64 (4 KiB pages, MAX_PAGE_ORDER 10),
    512 MiB on arm64 with 64 KiB pages. Sizes are folded by the modelled allocator: literals,
    arithmetic, shifts, `SZ_*`, `PAGE_SIZE`, macros and enum constants of the file and its headers,
    and `sizeof` of known types and structs. The kvmalloc family falls back to vmalloc and is exempt.

    ## Why is this bad?
    kmalloc cannot return more than 2^MAX_PAGE_ORDER contiguous pages. A larger request always fails
    (with a warning from the page allocator), so the code path that needs the buffer never works on
    that architecture, and nothing at build time says so.

    ## Example
    ```c
    #define IMG_BUF_LEN (16 * SZ_1M)
    buf = kmalloc(IMG_BUF_LEN, GFP_KERNEL);
    ```

    ## Use instead
    ```c
    buf = kvmalloc(IMG_BUF_LEN, GFP_KERNEL);   /* freed with kvfree() */
    ```
    or vmalloc() when the memory need not be physically contiguous.

    ## Fix safety
    No fix is offered: moving to kvmalloc or vmalloc changes which free the buffer needs and whether
    it may be used for DMA.

    ## References
    - include/linux/slab.h (KMALLOC_SHIFT_MAX, KMALLOC_MAX_SIZE)
    - include/linux/mmzone.h (MAX_PAGE_ORDER), arch/arm64/Kconfig (ARCH_FORCE_MAX_ORDER)
    - Documentation/core-api/memory-allocation.rst ("kvmalloc ... falls back to vmalloc")
    """

    code = "KAL205"
    name = "alloc-size-over-limit"
    severity = "error"

    def run(self, ctx):
        profile = ctx.folder.profile if ctx.folder is not None else None
        if profile is None:
            return
        for site in ctx.alloc_sites():
            if site.allocator.limit != "kmalloc":
                continue
            size = ctx.alloc_size(site)
            if isinstance(size, AllocSize) and size.request > profile.kmalloc_max_size:
                yield ctx.finding(
                    self, size.span,
                    f"{describe(site.allocator.name, size, profile)}; KMALLOC_MAX_SIZE on {profile.name} is "
                    f"{profile.kmalloc_max_size}: it always fails; use kvmalloc() or vmalloc()")
