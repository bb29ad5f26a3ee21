"""KAL202 alloc-size-flex-struct: a flexible-array struct sized by hand instead of with struct_size()."""

from __future__ import annotations

from kalloclint.analysis.sizes import flex_struct_size, product_factors, sizeof_operand, sizeof_type
from kalloclint.checks import Check
from kalloclint.findings import Fix
from kalloclint.frontend.facts import norm


class AllocSizeFlexStruct(Check):
    """
    ## What it does
    Finds allocation sizes written as `sizeof(*p) + n * sizeof(elem)` (or `sizeof(struct s) + ...`) for a
    struct that ends in a flexible array member.

    ## Why is this bad?
    The sum and the product can both overflow, giving a buffer shorter than the header plus `n`
    elements. `struct_size()` computes the same size and saturates at `SIZE_MAX` on overflow, so the
    allocation fails instead; it also names the member, so the element type cannot drift from it.

    ## Example
    ```c
    struct fw_table *t;

    t = kzalloc(sizeof(*t) + count * sizeof(t->entries[0]), GFP_KERNEL);
    ```

    ## Use instead
    ```c
    t = kzalloc(struct_size(t, entries, count), GFP_KERNEL);
    ```

    ## Fix safety
    A fix is offered when the header is `sizeof(*p)` of the pointer being assigned and the element size
    is the flexible member's own (`sizeof(p->member[0])`, `sizeof(*p->member)` or its type). It is safe:
    the value is the same unless the arithmetic overflows.

    ## References
    - include/linux/overflow.h (struct_size, flex_array_size)
    - Documentation/process/deprecated.rst, "zero-length and one-element arrays" and "open-coded arithmetic"
    """

    code = "KAL202"
    name = "alloc-size-flex-struct"
    severity = "warning"

    def run(self, ctx):
        for site in ctx.alloc_sites():
            size = site.arg(site.allocator.size)
            if site.allocator.count is not None or size is None or size.kind == "opaque":
                continue
            type_of = lambda e: ctx.type_of(e, site.function)  # noqa: E731
            flex = flex_struct_size(size, type_of, ctx.struct, ctx.is_constant)
            if flex is None:
                continue
            yield ctx.finding(
                self, size.span,
                f"size of struct {flex.struct.name} with flexible array '{flex.member.name}[]' is computed "
                f"by hand; use struct_size()",
                fix=_fix(ctx, site, size, flex, type_of),
            )


def _fix(ctx, site, size, flex, type_of) -> Fix | None:
    target = site.call.target
    header = sizeof_operand(flex.header)
    if target is None or header is None or header.kind != "unary" or header.op != "*":
        return None
    pointer = norm(target.text)
    if norm(header.children[0].text) != pointer:
        return None
    factors = product_factors(flex.product)
    if len(factors) != 2:
        return None
    member = flex.member
    own = {f"{pointer}->{member.name}[0]", f"*{pointer}->{member.name}", f"*({pointer}->{member.name})"}
    for count, elem in (factors, factors[::-1]):
        operand = sizeof_operand(elem)
        if operand is None:
            continue
        elem_type = sizeof_type(elem, type_of)
        if norm(operand.text) in own or (elem_type is not None and elem_type.pointer == member.pointer
                                         and elem_type.base == member.type):
            text = f"struct_size({target.text}, {member.name}, {count.text})"
            return Fix("Use struct_size()", "safe", (ctx.replace(size.span, text),))
    return None
