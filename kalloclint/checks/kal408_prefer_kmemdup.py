"""KAL408 prefer-kmemdup: an allocation immediately filled by memcpy from one source."""

from __future__ import annotations

from kalloclint.analysis.lifetimes import parsed_functions
from kalloclint.analysis.pointers import key_of
from kalloclint.analysis.sizes import sizeof_type
from kalloclint.analysis.stmts import past_null_checks, sequence_of, statement_call
from kalloclint.checks import Check
from kalloclint.findings import Fix
from kalloclint.frontend.facts import norm


class PreferKmemdup(Check):
    """
    ## What it does
    Finds an allocation followed by `memcpy(p, src, <the size allocated>)` into it, with nothing in
    between but the NULL check: kmalloc, kzalloc, kvmalloc, kvzalloc, devm_kmalloc, devm_kzalloc.

    ## Why is this bad?
    kmemdup() (kvmemdup(), devm_kmemdup()) allocates and copies in one call: the size is written once,
    so the copy cannot overrun or fall short of the allocation, and zeroing memory that is overwritten
    at once is avoided.

    ## Example
    ```c
    fw_copy = kmalloc(fw->size, GFP_KERNEL);
    if (!fw_copy)
    	return -ENOMEM;
    memcpy(fw_copy, fw->data, fw->size);
    ```

    ## Use instead
    ```c
    fw_copy = kmemdup(fw->data, fw->size, GFP_KERNEL);
    if (!fw_copy)
    	return -ENOMEM;
    ```

    ## Fix safety
    The fix rewrites the allocation as the copying twin and deletes the memcpy. It is safe when the
    source is a plain expression; when the source calls a function it is unsafe, since the source is
    then evaluated before the allocation rather than after.

    ## References
    - mm/util.c kmemdup(), kvmemdup()
    - drivers/base/devres.c devm_kmemdup()
    - scripts/coccinelle/api/memdup.cocci
    """

    code = "KAL408"
    name = "prefer-kmemdup"
    severity = "info"

    def run(self, ctx):
        copies, allocators = ctx.model.copies, ctx.model.allocators
        parsed = {f.span.start for f in parsed_functions(ctx.facts.functions)}
        for site in ctx.alloc_sites():
            allocator, call, function = site.allocator, site.call, site.function
            if function.span.start not in parsed:
                continue
            twin = allocators.get(allocator.dup) if allocator.dup else None
            if twin is None or call.target is None or call.stmt is None or allocator.size is None:
                continue
            place = sequence_of(function.body, call.stmt)
            key = key_of(call.target)
            if place is None or key is None:
                continue
            seq, i = place
            j = past_null_checks(seq, i + 1, norm(call.target.text), ctx.model.contexts.hints)
            copy_call = statement_call(function, seq[j], copies) if j < len(seq) else None
            if copy_call is None:
                continue
            copy = copies[copy_call.name]
            if max(copy.dst, copy.src, copy.size) >= len(copy_call.args):
                continue
            source = copy_call.args[copy.src]
            if key_of(copy_call.args[copy.dst]) != key or any(key_of(n) == key for n in source.walk()) \
                    or not _same_size(ctx, function, site.arg(allocator.size), copy_call.args[copy.size]):
                continue
            text = _twin_call(twin, allocator, call, source, site.arg(allocator.size))
            if text is None:
                continue
            safe = not any(n.kind == "call" for n in source.walk())
            fix = Fix(f"Use {twin.name}() and drop the {copy_call.name}()", "safe" if safe else "unsafe",
                      (ctx.replace(call.span, text), ctx.replace(seq[j].span, "")))
            yield ctx.finding(
                self, call.span,
                f"{call.name}() followed by {copy_call.name}() of the same size from '{source.text}' at line "
                f"{ctx.line(copy_call.span)}; use {twin.name}()",
                fix=fix, related=(ctx.related(copy_call.span, "copied here"),))


def _same_size(ctx, function, allocated, copied) -> bool:
    if allocated is None:
        return False
    if norm(allocated.text) == norm(copied.text):
        return True
    type_of = lambda e: ctx.type_of(e, function)  # noqa: E731
    a, b = sizeof_type(allocated, type_of), sizeof_type(copied, type_of)
    return a is not None and a == b


def _twin_call(twin, allocator, call, source, size) -> str | None:
    """The copying twin's call with the source, the size, the flags and any other argument (the device
    of devm_kmemdup) taken from the allocation."""
    positions = {twin.source: source.text, twin.size: size.text}
    if twin.gfp is not None:
        if allocator.gfp is None or allocator.gfp >= len(call.args):
            return None
        positions[twin.gfp] = call.args[allocator.gfp].text
    args = []
    for i in range(max(positions) + 1):
        if i in positions:
            args.append(positions[i])
        elif i < len(call.args) and i not in (allocator.size, allocator.gfp):
            args.append(call.args[i].text)
        else:
            return None
    return f"{twin.name}({', '.join(args)})"
