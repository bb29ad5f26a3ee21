"""KAL301 free-mismatch: memory freed by a function of the wrong allocation family."""

from __future__ import annotations

from kalloclint.analysis.lifetimes import allocated_with, origins_of
from kalloclint.analysis.pointers import unwrap
from kalloclint.checks import Check
from kalloclint.findings import Edit, Fix
from kalloclint.model import Free, Model


class FreeMismatch(Check):
    """
    ## What it does
    Finds memory freed by a function of another allocation family: kfree() on vmalloc or kvmalloc
    memory, vfree() on kmalloc or kvmalloc memory, free_pages() on a `struct page *` from alloc_pages(),
    __free_pages() on an address from __get_free_pages(), kmem_cache_free() on kmalloc memory,
    kfree() on kstrdup_const() strings, and every other pair the model's families forbid. The memory is
    followed from its allocation through local variables, struct fields (by struct type and field name,
    across the functions of the file), the driver's drvdata and wrappers that return what an allocator
    returned. Where several allocations may reach one free, it is reported only when none of them
    matches.

    ## Why is this bad?
    Each allocator keeps its own bookkeeping. kfree() of a vmalloc address treats a virtual mapping as a
    slab page: the kernel oopses or, worse, corrupts another slab silently. kvfree() is the exception:
    it checks the address and frees kmalloc, vmalloc and kvmalloc memory alike.

    ## Example
    ```c
    priv->rx_ring = vzalloc(size);
    ...
    kfree(priv->rx_ring);
    ```

    ## Use instead
    ```c
    vfree(priv->rx_ring);
    ```

    ## Fix safety
    The fix calls the matching free (kvfree() when the memory may come from either family). It is safe
    when the new free accepts everything the old one did (kfree() -> kvfree()); otherwise it is unsafe,
    since it relies on the analysis having seen every place the pointer is assigned.

    ## References
    - mm/util.c kvfree(): "It is slightly more efficient to use kfree() or vfree() if you are certain"
    - mm/slub.c kfree(), mm/vmalloc.c vfree(), mm/page_alloc.c free_pages() / __free_pages()
    - Documentation/core-api/memory-allocation.rst ("Freeing")
    - scripts/coccinelle/api/kfree_mismatch.cocci
    """

    code = "KAL301"
    name = "free-mismatch"
    severity = "error"

    def run(self, ctx):
        model = ctx.model
        for function, call, held in ctx.lifetimes().frees():
            origins = origins_of(held)
            free = model.frees[call.name]
            if origins is None or any(o.family in free.families for o in origins):
                continue
            if devm_mismatch(model, free, origins):
                continue  # KAL302
            families = list(dict.fromkeys(o.family for o in origins))
            choices = matching_frees(model, families, free)
            shaped = [c for c in choices if (model.frees[c].order is None) == (free.order is None)]
            choices = shaped + [c for c in choices if c not in shaped]
            pointer = unwrap(call.args[free.ptr]).text
            advice = " or ".join(f"{c}()" for c in choices[:2]) if choices else "the matching free"
            yield ctx.finding(
                self, call.span,
                f"'{pointer}' was allocated with {allocated_with(origins, ctx.line)}; {call.name}() cannot free "
                f"{_what(model, families)} — use {advice}",
                fix=_fix(ctx, call, free, choices),
                related=tuple(ctx.related(o.site, f"allocated here with {o.allocator}()") for o in origins[:3]))


def devm_mismatch(model: Model, free: Free, origins) -> bool:
    """The mismatch KAL302 reports: devm_kfree() on other memory, or a plain free on devm memory only."""
    families = model.families
    return all(families[f].managed for f in free.families) or all(families[o.family].managed for o in origins)


def matching_frees(model: Model, families: list[str], wrong: Free) -> list[str]:
    """Frees that accept every family, in the families' order of preference; the sensitive twins when
    the wrong free was one (kfree_sensitive() -> kvfree_sensitive())."""
    twins = {f.sensitive for f in model.frees.values() if f.sensitive}
    sensitive = wrong.name in twins
    out: list[str] = []
    for family in families:
        for name in model.families[family].frees:
            free = model.frees[name]
            if name in twins or not set(families) <= set(free.families):
                continue
            if sensitive:
                name = free.sensitive
                if name is None or name not in model.frees or not set(families) <= set(model.frees[name].families):
                    continue
            if name not in out:
                out.append(name)
    return out


def _what(model: Model, families: list[str]) -> str:
    return " or ".join(model.families[f].what or f"{f} memory" for f in families)


def _fix(ctx, call, wrong: Free, choices: list[str]) -> Fix | None:
    """Rename the call when the arguments line up, else rewrite it as `free(ptr[, order])`."""
    args = call.args
    for name in choices:
        free = ctx.model.frees[name]
        if (free.order is None) != (wrong.order is None):
            continue
        if free.ptr == wrong.ptr and free.order == wrong.order:
            edit = ctx.replace(call.name_span, name)
        elif free.ptr == 0 and free.order in (None, 1):
            kept = [args[wrong.ptr].text] + ([args[wrong.order].text] if wrong.order is not None else [])
            edit = Edit(call.span.start, call.span.end, f"{name}({', '.join(kept)})")
        else:
            continue
        safe = set(wrong.families) <= set(free.families)
        return Fix(f"Use {name}()", "safe" if safe else "unsafe", (edit,))
    return None
