"""KAL201 alloc-size-multiply: an allocation size computed with an unchecked multiplication."""

from __future__ import annotations

import re
from collections.abc import Callable

from kalloclint.analysis.sizes import (flex_struct_size, folds_exactly, product_factors, sizeof_operand,
                                       unchecked_products)
from kalloclint.checks import Check
from kalloclint.findings import Fix
from kalloclint.frontend.facts import Expr, Function


_SIZED = ("kmalloc", "vmalloc", "kvmalloc")  # the families rules.md names; DMA and page sizes differ


class AllocSizeMultiply(Check):
    """
    ## What it does
    Finds allocation sizes that multiply values not all known at compile time, such as
    `kmalloc(n * sizeof(*p), GFP_KERNEL)`, in the kmalloc, krealloc, vmalloc, kvmalloc and devm_kmalloc
    families and their `_node` variants. Products of constants only are fine: literals, `sizeof`,
    `ARRAY_SIZE()` of any array, ALL_CAPS macro and enum names, the file's own `#define`s and enums, and
    lower-case ones of its headers when the product folds without wrapping (`nr_queues * sizeof(*q)`; a
    folded product that wraps keeps its finding). So is a product by constants that fold to 1
    (`len * sizeof(char)`), and one whose run-time factor a branch before the allocation tests against
    a limit divided by something (`if (n > SIZE_MAX / sizeof(*p)) return -EINVAL;`: an overflow check
    by hand; the limits are `[overflow_limits]` in rules/memory.toml).

    ## Why is this bad?
    The multiplication can overflow and wrap around to a small number; the allocation then succeeds
    with a buffer far smaller than the code believes, and the writes that follow corrupt memory. The
    array allocators check the multiplication and fail instead.

    ## Example
    ```c
    ring->desc = kmalloc(count * sizeof(*ring->desc), GFP_KERNEL);
    ```

    ## Use instead
    ```c
    ring->desc = kmalloc_array(count, sizeof(*ring->desc), GFP_KERNEL);
    ```
    `kcalloc` for `kzalloc`, `vmalloc_array`/`vcalloc`, `kvmalloc_array`/`kvcalloc`, `krealloc_array`,
    `devm_kmalloc_array`/`devm_kcalloc`; where the allocator has no array form, `array_size(a, b)` or
    `array3_size(a, b, c)`, and `size_add()` for sums.

    ## Fix safety
    The fix (for a size that is exactly `a * b`) switches to the array form, or wraps the product in
    `array_size()`. It is safe: the result differs only when the multiplication overflows, where the
    allocation now fails instead of returning a short buffer.

    ## References
    - Documentation/core-api/memory-allocation.rst (kmalloc_array, kcalloc)
    - Documentation/process/deprecated.rst, "open-coded arithmetic in allocator arguments"
    - include/linux/overflow.h (array_size, array3_size, size_add)
    """

    code = "KAL201"
    name = "alloc-size-multiply"
    severity = "warning"

    def run(self, ctx):
        for site in ctx.alloc_sites():
            allocator = site.allocator
            size = site.arg(allocator.size)
            if allocator.count is not None or allocator.source is not None or size is None \
                    or size.kind == "opaque" or allocator.limit not in _SIZED:
                continue
            constant = _constant_test(ctx, site.function)
            fold = lambda e: ctx.fold(e, site.function)  # noqa: E731
            products = [p for p in unchecked_products(size, constant) if not _times_one(p, constant, fold)]
            if not products or _checked_by_hand(ctx, site, products):
                continue
            type_of = lambda e: ctx.type_of(e, site.function)  # noqa: E731
            if flex_struct_size(size, type_of, ctx.struct, constant) is not None:
                continue  # KAL202 reports it, with the struct_size() advice
            whole = products[0] is size.strip()
            split = _count_and_element(products[0], constant)
            if whole and split is not None and allocator.array:
                advice = f"use {allocator.array}()"
            else:
                advice = "use array_size()" if len(product_factors(products[0])) == 2 else "use array3_size()"
                advice += "" if whole else " and size_add()"
            yield ctx.finding(
                self, size.span,
                f"{allocator.name}() size '{size.text}' multiplies without an overflow check; {advice}",
                fix=_fix(ctx, site, size, split) if whole else None,
            )


def _constant_test(ctx, function: Function) -> Callable[[Expr], bool]:
    """Is an expression constant: by its shape (literals, sizeof, ALL_CAPS names, the file's #defines and
    enums), else when it folds without wrapping (a lower-case #define or enum constant of a header). The
    fold runs only for what the shape does not settle, which is rare."""
    fold = lambda e: ctx.fold(e, function)  # noqa: E731
    return lambda e: ctx.is_constant(e) or folds_exactly(e, fold)


def _times_one(product: Expr, is_constant, fold) -> bool:
    """`n * sizeof(char)`, `len * sizeof(u8)`: one run-time factor times constants that fold to 1 cannot
    overflow."""
    factors = product_factors(product)
    if sum(not is_constant(f) for f in factors) > 1:
        return False
    return all(getattr(fold(f), "value", None) == 1 for f in factors if is_constant(f))


def _checked_by_hand(ctx, site, products: list[Expr]) -> bool:
    """A branch before the allocation tests a run-time factor against a limit divided by something
    (`if (n > SIZE_MAX / sizeof(*p)) return -EINVAL;`): the product was checked by hand."""
    limits = ctx.model.overflow_limits
    names = {n for p in products for f in product_factors(p) if not f.kind == "sizeof"
             for n in _NAMES.findall(f.text)} - limits
    if not names:
        return False
    start = site.call.span.start
    for node in ctx.cfg(site.function).nodes:
        cond = node.cond
        if cond is None or cond.span.end > start or "/" not in cond.text:
            continue
        words = set(_NAMES.findall(cond.text))
        if words & limits and words & names:
            return True
    return False


_NAMES = re.compile(r"[A-Za-z_]\w*")


def _count_and_element(product, is_constant) -> tuple[str, str] | None:
    """Split a product into (count, element size) for an array allocator: the one run-time factor is the
    count and the constants are the element; with two run-time factors and no constant, the sizeof-free
    one is the count. None when the product does not split that way."""
    factors = product_factors(product)
    variable = [f for f in factors if not is_constant(f)]
    constant = [f for f in factors if is_constant(f)]
    if len(variable) == 1 and constant:
        return variable[0].text, " * ".join(f.text for f in constant)
    if len(variable) == 2 and not constant:
        first, second = variable
        if sizeof_operand(first) is not None:
            first, second = second, first
        return first.text, second.text
    return None


def _fix(ctx, site, size, split: tuple[str, str] | None) -> Fix | None:
    allocator = site.allocator
    if split is not None and allocator.array:
        count, elem = split
        edits = (ctx.replace(site.call.name_span, allocator.array), ctx.replace(size.span, f"{count}, {elem}"))
        return Fix(f"Use {allocator.array}()", "safe", edits)
    factors = product_factors(size)
    if len(factors) in (2, 3):
        helper = "array_size" if len(factors) == 2 else "array3_size"
        text = f"{helper}({', '.join(f.text for f in factors)})"
        return Fix(f"Wrap the product in {helper}()", "safe", (ctx.replace(size.span, text),))
    return None
