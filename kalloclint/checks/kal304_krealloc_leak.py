"""KAL304 krealloc-leak: `p = krealloc(p, ...)` loses the old block when the reallocation fails."""

from __future__ import annotations

from kalloclint.analysis.lifetimes import parsed_functions
from kalloclint.analysis.pointers import key_of, unwrap
from kalloclint.checks import Check


class KreallocLeak(Check):
    """
    ## What it does
    Finds `p = krealloc(p, ...)` — the result of a reallocating allocator (krealloc, krealloc_array,
    kvrealloc, devm_krealloc, devm_krealloc_array) stored straight back into the pointer it was given —
    unless the flags carry `__GFP_NOFAIL` or the old block is still reachable another way: the pointer
    was copied to another variable first, or is a local loaded from a field, through a pointer, or from
    a function that is not an allocator (`fwspec = dev_iommu_fwspec_get(dev)`: the device still holds it).

    ## Why is this bad?
    On failure the reallocators return NULL and leave the old block allocated. Storing NULL over the
    only pointer to it leaks it (for devm_krealloc, until the device unbinds), and the code that then
    handles the failure usually cannot free it any more.

    ## Example
    ```c
    buf = krealloc(buf, new_size, GFP_KERNEL);
    if (!buf)
    	return -ENOMEM;
    ```

    ## Use instead
    ```c
    tmp = krealloc(buf, new_size, GFP_KERNEL);
    if (!tmp)
    	return -ENOMEM;	/* buf is still valid and still owned */
    buf = tmp;
    ```

    ## Fix safety
    There is no automatic fix: the failure path has to decide what to do with the old block.

    ## References
    - mm/slab_common.c krealloc(): "If @p is NULL, krealloc() behaves exactly like kmalloc()... the
      object pointed to is freed" only on success
    - Documentation/core-api/memory-allocation.rst
    """

    code = "KAL304"
    name = "krealloc-leak"
    severity = "warning"

    def run(self, ctx):
        nofail = ctx.model.gfp.bit("__GFP_NOFAIL")
        parsed = {f.span.start for f in parsed_functions(ctx.facts.functions)}
        for site in ctx.alloc_sites():
            allocator, call, function = site.allocator, site.call, site.function
            if function.span.start not in parsed:
                continue
            old = site.arg(allocator.realloc)
            if old is None or call.target is None or call.use != "assign":
                continue
            key = key_of(call.target)
            if key is None or key_of(old) != key:
                continue
            gfp = ctx.gfp_of(function, call)
            if gfp is not None and gfp[1].mask & nofail:
                continue
            if _saved_before(function, key, call.span.start) or _fetched_before(ctx, function, key, call.span.start):
                continue
            yield ctx.finding(
                self, call.span,
                f"if {call.name}() fails it returns NULL into '{call.target.text}', the only pointer to the old "
                f"block, which then leaks; store the result in a temporary and assign it after the NULL check")


def _saved_before(function, key: str, before: int) -> bool:
    """`old = p;` earlier in the function, or `p = priv->buf;`: the old block is still reachable on failure."""
    for store in function.stores:
        if store.span.start >= before:
            continue
        target, value = key_of(store.target), unwrap(store.value)
        if key_of(value) == key and target != key:
            return True
        if target == key and (key_of(value) is not None or value.kind == "unary" and value.op == "*"):
            return True
    return False


def _fetched_before(ctx, function, key: str, before: int) -> bool:
    """`p = dev_iommu_fwspec_get(dev);` earlier in the function: a getter (neither an allocator nor a
    function of this file, which may wrap one) returns memory that something else still points to."""
    local = {f.name for f in ctx.facts.functions}
    return any(c.span.start < before and c.target is not None and c.use in ("assign", "init")
               and key_of(c.target) == key and c.name not in ctx.model.allocators and c.name not in local
               for c in function.calls)
