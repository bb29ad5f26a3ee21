"""KAL204 alloc-array-args-swapped: an array allocator given the element size as the count."""

from __future__ import annotations

from kalloclint.analysis.sizes import sizeof_operand
from kalloclint.checks import Check
from kalloclint.findings import Fix


class AllocArrayArgsSwapped(Check):
    """
    ## What it does
    Finds calls to the array allocators (`kcalloc`, `kmalloc_array`, `kvcalloc`, `kvmalloc_array`,
    `devm_kcalloc`, `devm_kmalloc_array`, `vcalloc`, `vmalloc_array`, `krealloc_array`, ...) whose count
    argument is a `sizeof(...)` and whose size argument is not.

    ## Why is this bad?
    The product is the same, so the buffer is right today, but the arguments say the opposite of what
    the code means: readers and tools (and the allocator's overflow check, which assumes a small
    element size) are misled, and GCC 14 warns with -Wcalloc-transposed-args.

    ## Example
    ```c
    priv->rings = kcalloc(sizeof(*priv->rings), nrings, GFP_KERNEL);
    ```

    ## Use instead
    ```c
    priv->rings = kcalloc(nrings, sizeof(*priv->rings), GFP_KERNEL);
    ```

    ## Fix safety
    The fix swaps the two arguments; it is safe, the product is unchanged.

    ## References
    - include/linux/slab.h (kmalloc_array, kcalloc: "n: number of elements, size: element size")
    """

    code = "KAL204"
    name = "alloc-array-args-swapped"
    severity = "warning"

    def run(self, ctx):
        for site in ctx.alloc_sites():
            allocator = site.allocator
            count, size = site.arg(allocator.count), site.arg(allocator.size)
            if count is None or size is None or count.kind == "opaque" or size.kind == "opaque":
                continue
            if sizeof_operand(count) is None or sizeof_operand(size) is not None:
                continue
            fix = Fix("Swap the count and size arguments", "safe",
                      (ctx.replace(count.span, size.text), ctx.replace(size.span, count.text)))
            yield ctx.finding(self, site.call.span,
                              f"{allocator.name}() takes the count first, but got '{count.text}' as the count "
                              f"and '{size.text}' as the element size; swap them", fix=fix)
