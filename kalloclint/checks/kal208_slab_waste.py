"""KAL208 slab-waste: a compile-time kmalloc size that rounds up to a much larger size class."""

from __future__ import annotations

from kalloclint.analysis.sizing import AllocSize
from kalloclint.checks import Check

MIN_WASTE_BYTES = 1024
MIN_WASTE_SHARE = 0.25


class SlabWaste(Check):
    """
    ## What it does
    Finds kmalloc-family allocations whose size, folded at compile time, rounds up to a kmalloc size
    class (or, above KMALLOC_MAX_CACHE_SIZE, the power-of-two number of pages kmalloc then takes) wasting at least
    25% of it and at least 1 KiB: `sizeof(struct cmd_block)` = 4200 bytes lands in kmalloc-8k. The
    classes come from the selected arch profile (SLUB's kmalloc-8 ... kmalloc-8k with 4 KiB pages, with
    kmalloc-96 and kmalloc-192); `devm_` allocations count their devres header.

    ## Why is this bad?
    kmalloc hands out whole size classes: the rest of the class is allocated and never used. For an
    object allocated once that is a small loss; for one allocated per packet, per request or per
    device queue, it multiplies.

    ## Example
    ```c
    struct cmd_block { struct cmd_hdr hdr; u8 payload[4192]; };   /* 4200 bytes */
    cb = kmalloc(sizeof(*cb), GFP_KERNEL);
    ```

    ## Use instead
    Size the structure to fit its class (here, a payload of 4088 bytes fits kmalloc-4k), split it,
    or give it its own cache with kmem_cache_create() when many are allocated.

    ## Fix safety
    No fix is offered: the right size is a design decision.

    ## References
    - mm/slab_common.c (kmalloc_info: the size classes; kmalloc_size_roundup)
    - include/linux/slab.h (__kmalloc_index)
    - `kalloclint --explain-size 'sizeof(struct cmd_block)' FILE` shows the class and the waste
    """

    code = "KAL208"
    name = "slab-waste"
    severity = "info"

    def run(self, ctx):
        profile = ctx.folder.profile if ctx.folder is not None else None
        if profile is None:
            return
        for site in ctx.alloc_sites():
            if site.allocator.limit != "kmalloc":
                continue
            size = ctx.alloc_size(site)
            if not isinstance(size, AllocSize):
                continue
            landed = profile.size_class(size.request)
            if landed is None:
                continue
            name, bytes_ = landed
            waste = bytes_ - size.request
            if waste < MIN_WASTE_BYTES or waste < MIN_WASTE_SHARE * bytes_:
                continue
            what = f"{size.size} bytes" if size.product == str(size.size) else f"{size.product} = {size.size} bytes"
            if size.request != size.size:
                what += f" + {profile.devres_header} bytes of devres header"
            yield ctx.finding(
                self, size.span,
                f"{what} rounds up to {name}{f' ({bytes_} bytes)' if name.startswith('order') else ''} on "
                f"{profile.name}, wasting {waste} bytes "
                f"({round(100 * waste / bytes_)}%)")
