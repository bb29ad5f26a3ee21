"""KAL406 prefer-kvmalloc: kmalloc or vmalloc chosen by hand, and the matching kfree or vfree choice."""

from __future__ import annotations

from kalloclint.analysis.lifetimes import parsed_functions
from kalloclint.analysis.pointers import key_of
from kalloclint.analysis.stmts import is_null_test, single_statement, statement_call, walk
from kalloclint.checks import Check
from kalloclint.findings import Edit, Fix

_KMALLOC, _VMALLOC = "slab", "vmalloc"


class PreferKvmalloc(Check):
    """
    ## What it does
    Finds an if/else that stores either a kmalloc-family or a vmalloc-family allocation into the same
    pointer (`if (size > PAGE_SIZE) p = vmalloc(size); else p = kmalloc(size, GFP_KERNEL);`), a
    kmalloc falling back to vmalloc when it fails (`p = kmalloc(...); if (!p) p = vmalloc(...);`), and
    the twin choice of free (`if (is_vmalloc_addr(p)) vfree(p); else kfree(p);`).

    ## Why is this bad?
    kvmalloc() makes the same choice, with the right flags for the kmalloc attempt (no retries, no
    warning), and kvfree() frees either. Open-coded versions are longer, and pair easily with the wrong
    free.

    ## Example
    ```c
    if (size > PAGE_SIZE)
    	buf = vmalloc(size);
    else
    	buf = kmalloc(size, GFP_KERNEL);
    ...
    if (is_vmalloc_addr(buf))
    	vfree(buf);
    else
    	kfree(buf);
    ```

    ## Use instead
    ```c
    buf = kvmalloc(size, GFP_KERNEL);
    ...
    kvfree(buf);
    ```

    ## Fix safety
    The free choice is replaced with kvfree(), which frees kmalloc and vmalloc memory alike: safe. The
    allocation choice has no automatic fix (the sizes and flags of the two branches may differ).

    ## References
    - mm/util.c kvmalloc_node(), kvfree()
    - Documentation/core-api/memory-allocation.rst ("kvmalloc ... falls back to vmalloc")
    - scripts/coccinelle/api/kvmalloc.cocci
    """

    code = "KAL406"
    name = "prefer-kvmalloc"
    severity = "info"

    def run(self, ctx):
        allocators, frees = ctx.model.allocators, ctx.model.frees
        for function in parsed_functions(ctx.facts.functions):
            for stmt in walk(function.body):
                if stmt.kind != "if" or stmt.macro or not stmt.children:
                    continue
                then = single_statement(stmt.children[0])
                other = single_statement(stmt.alt) if stmt.alt is not None else None
                if then is None:
                    continue
                if other is None and stmt.alt is None:
                    yield from self.fallback(ctx, function, stmt, then)
                    continue
                if other is None:
                    continue
                pair = [statement_call(function, s, allocators) for s in (then, other)]
                if all(pair) and _families(pair, lambda c: allocators[c.name].family) and \
                        key_of(pair[0].target) is not None and key_of(pair[0].target) == key_of(pair[1].target):
                    twin = "kvzalloc" if all(allocators[c.name].zeroed for c in pair) else "kvmalloc"
                    yield ctx.finding(
                        self, stmt.span,
                        f"{pair[0].name}() or {pair[1].name}() chosen by hand for '{pair[0].target.text}'; "
                        f"{twin}() makes the same choice (and kvfree() frees either)")
                    continue
                pair = [statement_call(function, s, frees) for s in (then, other)]
                if all(pair) and _families(pair, lambda c: _free_family(frees[c.name])):
                    pointers = [c.args[frees[c.name].ptr] if frees[c.name].ptr < len(c.args) else None for c in pair]
                    key = key_of(pointers[0]) if pointers[0] is not None else None
                    if key is None or key != key_of(pointers[1]):
                        continue
                    yield ctx.finding(
                        self, stmt.span,
                        f"{pair[0].name}() or {pair[1].name}() chosen by hand for '{pointers[0].text}'; "
                        f"kvfree() frees either",
                        fix=Fix("Use kvfree()", "safe", (Edit(stmt.span.start, stmt.span.end,
                                                              f"kvfree({pointers[0].text});"),)))

    def fallback(self, ctx, function, stmt, then):
        """`p = kmalloc(...); if (!p) p = vmalloc(...);`: reported at the `if`."""
        allocators = ctx.model.allocators
        retry = statement_call(function, then, allocators)
        key = key_of(retry.target) if retry is not None and retry.target is not None else None
        if key is None or allocators[retry.name].family != _VMALLOC or stmt.cond is None \
                or not is_null_test(stmt.cond, key, ctx.model.contexts.hints):
            return
        first = [c for c in function.calls if c.span.end <= stmt.span.start and c.target is not None
                 and key_of(c.target) == key]
        if not first or first[-1].name not in allocators or allocators[first[-1].name].family != _KMALLOC:
            return
        yield ctx.finding(
            self, stmt.span,
            f"{retry.name}() as a fallback when {first[-1].name}() fails for '{retry.target.text}'; kvmalloc() "
            f"does the same (and kvfree() frees either)")


def _families(pair, family) -> bool:
    return {family(pair[0]), family(pair[1])} == {_KMALLOC, _VMALLOC}


def _free_family(free) -> str | None:
    """kfree is the kmalloc free, vfree the vmalloc one; kvfree and the rest are neither."""
    if _VMALLOC in free.families and _KMALLOC not in free.families:
        return _VMALLOC
    if _KMALLOC in free.families and _VMALLOC not in free.families:
        return _KMALLOC
    return None
