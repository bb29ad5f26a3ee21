"""KAL401 prefer-zeroing-alloc: an allocation immediately cleared with memset instead of a zeroing allocator."""

from __future__ import annotations

from kalloclint.analysis.sizes import product_factors, sizeof_type
from kalloclint.analysis.stmts import past_null_checks, sequence_of, statement_call
from kalloclint.checks import Check
from kalloclint.findings import Fix
from kalloclint.frontend.facts import Expr, norm


class PreferZeroingAlloc(Check):
    """
    ## What it does
    Finds an allocation followed by `memset(p, 0, <the whole size>)` of the same pointer, with nothing
    in between but the NULL check: kmalloc, kmalloc_array, vmalloc, kvmalloc, devm_kmalloc,
    kmem_cache_alloc and their `_node` variants.

    ## Why is this bad?
    The zeroing allocators (`kzalloc`, `kcalloc`, `vzalloc`, `kvzalloc`, `devm_kzalloc`,
    `kmem_cache_zalloc`) do the same in one call, cannot get the size wrong, and let the allocator
    skip work it knows is unnecessary (pages that are already zero, `init_on_alloc`).

    ## Example
    ```c
    cmd = kmalloc(sizeof(*cmd), GFP_KERNEL);
    if (!cmd)
    	return -ENOMEM;
    memset(cmd, 0, sizeof(*cmd));
    ```

    ## Use instead
    ```c
    cmd = kzalloc(sizeof(*cmd), GFP_KERNEL);
    if (!cmd)
    	return -ENOMEM;
    ```

    ## Fix safety
    The fix renames the allocator and deletes the memset; it is safe, the memory is zeroed before
    any other use either way.

    ## References
    - Documentation/core-api/memory-allocation.rst ("kzalloc ... zeroes the allocated memory")
    - include/linux/slab.h (kzalloc, kcalloc, kmem_cache_zalloc)
    """

    code = "KAL401"
    name = "prefer-zeroing-alloc"
    severity = "warning"

    def run(self, ctx):
        fills = ctx.model.fills
        for site in ctx.alloc_sites():
            allocator, call, function = site.allocator, site.call, site.function
            if not allocator.zeroing or call.target is None or call.stmt is None:
                continue
            place = sequence_of(function.body, call.stmt)
            if place is None:
                continue
            seq, i = place
            pointer = norm(call.target.text)
            j = past_null_checks(seq, i + 1, pointer, ctx.model.contexts.hints)
            if j >= len(seq):
                continue
            fill_call = statement_call(function, seq[j], fills)
            if fill_call is None:
                continue
            fill = fills[fill_call.name]
            args = fill_call.args
            if max(fill.ptr, fill.size, fill.value or 0) >= len(args):
                continue
            if norm(args[fill.ptr].text) != pointer:
                continue
            if fill.value is not None and norm(args[fill.value].text) not in ("0", "'\\0'", "0x00", "0x0"):
                continue
            if not _whole_size(ctx, site, args[fill.size]):
                continue
            fix = Fix(f"Use {allocator.zeroing}() and drop the {fill_call.name}()", "safe",
                      (ctx.replace(call.name_span, allocator.zeroing), ctx.replace(seq[j].span, "")))
            yield ctx.finding(
                self, call.span,
                f"{allocator.name}() followed by {fill_call.name}({args[fill.ptr].text}, 0, ...) at line "
                f"{ctx.line(fill_call.span)}; use {allocator.zeroing}()",
                fix=fix, related=(ctx.related(fill_call.span, "memory cleared here"),))


def _whole_size(ctx, site, cleared: Expr) -> bool:
    """Does `cleared` cover the whole allocation?"""
    allocator, call = site.allocator, site.call
    type_of = lambda e: ctx.type_of(e, site.function)  # noqa: E731
    size = site.arg(allocator.size)
    count = site.arg(allocator.count)
    if count is not None and size is not None:
        factors = sorted(norm(f.text) for f in product_factors(cleared))
        if cleared.strip().kind == "call" and cleared.strip().op == "array_size":
            factors = sorted(norm(a.text) for a in cleared.strip().children)
        return factors == sorted((norm(count.text), norm(size.text)))
    if size is not None and norm(size.text) == norm(cleared.text):
        return True
    cleared_type = sizeof_type(cleared, type_of)
    if cleared_type is None:
        return False
    if size is not None:
        return sizeof_type(size, type_of) == cleared_type
    target_type = ctx.type_of(call.target, site.function)
    return target_type is not None and target_type.pointee() == cleared_type
