"""KAL502 vmalloc-nonblocking-gfp: kvmalloc or __vmalloc given flags that cannot sleep."""

from __future__ import annotations

from kalloclint.checks import Check


class VmallocNonblockingGfp(Check):
    """
    ## What it does
    Finds kvmalloc-family calls (kvmalloc, kvzalloc, kvcalloc, kvmalloc_array, kvrealloc, kvmemdup and
    their `_node` variants) and `__vmalloc` whose GFP flags lack `__GFP_DIRECT_RECLAIM`: GFP_ATOMIC,
    GFP_NOWAIT, or GFP_KERNEL with the reclaim bits masked off. Flags held in a local are followed
    when every value it can have is a known GFP constant.

    ## Why is this bad?
    vmalloc may sleep: it allocates page tables and a virtual area with GFP_KERNEL. kvmalloc therefore
    does not fall back to vmalloc for non-blocking flags and returns NULL as soon as kmalloc fails, so
    the "large allocation that degrades gracefully" the caller meant is a plain high-order kmalloc that
    fails under fragmentation. `__vmalloc` cannot honour such flags either.

    ## Example
    ```c
    table = kvzalloc(TABLE_BYTES, GFP_ATOMIC);
    ```

    ## Use instead
    ```c
    table = kvzalloc(TABLE_BYTES, GFP_KERNEL);   /* allocate where sleeping is allowed */
    ```
    or, where the context truly cannot sleep, `kzalloc(TABLE_BYTES, GFP_ATOMIC)` with a small size
    and a failure path, or a buffer allocated in advance.

    ## Fix safety
    No fix is offered: the caller's context decides which flags are allowed.

    ## References
    - mm/util.c, kvmalloc_node(): the flags "must be compatible (superset) with GFP_KERNEL ... GFP_NOWAIT and
      GFP_ATOMIC are not supported"; "non-sleeping allocations are not supported by vmalloc"
    - mm/vmalloc.c, __vmalloc_node(): "__GFP_DIRECT_RECLAIM is required (aka GFP_NOWAIT is not supported)"
    - Documentation/core-api/memory-allocation.rst (kvmalloc, GFP flags)
    """

    code = "KAL502"
    name = "vmalloc-nonblocking-gfp"
    severity = "warning"

    def run(self, ctx):
        gfp = ctx.model.gfp
        for site in ctx.alloc_sites():
            allocator = site.allocator
            if allocator.gfp is None or not (allocator.limit == "kvmalloc" or allocator.name == "__vmalloc"):
                continue
            flags = ctx.gfp_of(site.function, site.call)
            if flags is None:
                continue
            arg, value = flags
            if gfp.may_sleep(value):
                continue
            if allocator.limit == "kvmalloc":
                why = "kvmalloc never falls back to vmalloc for them, so it is only a kmalloc that fails when " \
                      "contiguous memory is short"
            else:
                why = "vmalloc allocates page tables that may sleep and cannot honour them"
            yield ctx.finding(self, arg.span,
                              f"{allocator.name}() with flags '{arg.text}' that lack __GFP_DIRECT_RECLAIM: {why}")
