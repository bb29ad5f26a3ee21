"""KAL203 alloc-size-wrong-type: the allocation size is of another type than the pointer that receives it."""

from __future__ import annotations

from kalloclint.analysis.sizes import sizeof_operand, sizeof_type
from kalloclint.analysis.types import BYTE_TYPES
from kalloclint.checks import Check
from kalloclint.frontend.facts import norm


class AllocSizeWrongType(Check):
    """
    ## What it does
    Finds allocations whose size does not match the pointer the result is stored in:
    `p = kmalloc(sizeof(p), ...)` (the size of the pointer, not of what it points to), a pointer-typed
    `sizeof(struct foo *)` for a `struct foo *`, or `sizeof(struct a)` (or `sizeof(*q)` of a
    `struct a *q`) stored into a `struct b *`. Declarations with initialisers, assignments and struct
    fields are followed; byte buffers (`void *`, `char *`, `u8 *`) and a struct whose first member is the
    target struct (the container pattern) are accepted.

    ## Why is this bad?
    The buffer has the size of the wrong object. With a pointer size it is almost always too small, and
    the first write past 8 bytes corrupts the heap; with another struct it is too small whenever that
    struct is, which changes silently as the structs evolve.

    ## Example
    ```c
    struct rx_ring *ring = kzalloc(sizeof(ring), GFP_KERNEL);
    priv->stats = kzalloc(sizeof(struct tx_stats), GFP_KERNEL);  /* field is struct rx_stats * */
    ```

    ## Use instead
    ```c
    struct rx_ring *ring = kzalloc(sizeof(*ring), GFP_KERNEL);
    priv->stats = kzalloc(sizeof(*priv->stats), GFP_KERNEL);
    ```

    ## Fix safety
    No fix is offered: which of the two types was meant needs a human.

    ## References
    - Documentation/process/coding-style.rst, section 14 "Allocating memory" (`sizeof(*p)`)
    """

    code = "KAL203"
    name = "alloc-size-wrong-type"
    severity = "error"

    def run(self, ctx):
        for site in ctx.alloc_sites():
            call = site.call
            size = site.arg(site.allocator.size)
            operand = sizeof_operand(size) if size is not None else None
            if operand is None or call.target is None:
                continue
            target_type = ctx.type_of(call.target, site.function)
            pointee = target_type.pointee() if target_type is not None else None
            if pointee is None or pointee.pointer > 0:
                continue  # sizeof(p) == sizeof(*p) when p points to pointers
            target = call.target.text
            if operand.kind != "type" and norm(operand.text) == norm(target):
                yield ctx.finding(self, size.span,
                                  f"'{size.text}' is the size of the pointer '{target}', not of what it points "
                                  f"to; use sizeof(*{target})")
                continue
            size_type = sizeof_type(size, lambda e: ctx.type_of(e, site.function))
            if size_type is None or size_type.array or pointee.base in BYTE_TYPES:
                continue
            wanted = pointee.struct_name
            if wanted is None:
                continue
            if size_type.pointer > 0 and size_type.struct_name == wanted:
                yield ctx.finding(self, size.span,
                                  f"'{size.text}' is the size of a pointer, but '{target}' points to a "
                                  f"{pointee.base}; use sizeof(*{target})")
            elif size_type.pointer == 0 and size_type.struct_name not in (None, wanted) \
                    and not _embeds_first(ctx, size_type.struct_name, wanted):
                yield ctx.finding(self, size.span,
                                  f"'{size.text}' is the size of {size_type.base}, but '{target}' is a "
                                  f"{pointee.base} *; use sizeof(*{target})")


def _embeds_first(ctx, outer: str, inner: str) -> bool:
    """True when struct `outer` starts with a `struct inner` member (container_of's pattern), or is
    not known at all (then nothing can be said)."""
    definition = ctx.struct(outer)
    if definition is None:
        return True
    first = definition.fields[0] if definition.fields else None
    return first is not None and first.pointer == 0 and first.type in (f"struct {inner}", f"union {inner}")
