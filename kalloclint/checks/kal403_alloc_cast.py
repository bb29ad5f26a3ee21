"""KAL403 alloc-cast: a cast of an allocator's void * result."""

from __future__ import annotations

from kalloclint.checks import Check
from kalloclint.findings import Edit, Fix

_CONVERTED = ("assign", "init", "return", "arg")


class AllocCast(Check):
    """
    ## What it does
    Finds a cast to a pointer type written around the `void *` result of an allocator
    (`(struct foo *)kmalloc(...)`) where the value is assigned, initialised, returned or passed on.

    ## Why is this bad?
    C converts `void *` to any object pointer implicitly. The cast adds noise, and it hides the
    compiler's warning when the target's type changes and no longer matches the cast.

    ## Example
    ```c
    priv->buf = (u8 *)kzalloc(len, GFP_KERNEL);
    ```

    ## Use instead
    ```c
    priv->buf = kzalloc(len, GFP_KERNEL);
    ```

    ## Fix safety
    The fix deletes the cast; it is safe, the conversion is implicit in these positions.

    ## References
    - Documentation/process/coding-style.rst, section 14 ("Casting the return value which is a void
      pointer is redundant")
    """

    code = "KAL403"
    name = "alloc-cast"
    severity = "info"

    def run(self, ctx):
        for site in ctx.alloc_sites():
            call = site.call
            cast = call.cast
            if site.allocator.returns != "void *" or cast is None or call.use not in _CONVERTED:
                continue
            cast_type = cast.children[0].text if len(cast.children) == 2 else ""
            if "*" not in cast_type or any(w in ctx.model.macros.blank for w in cast_type.split()):
                continue  # an address-space cast (__iomem, __force, ...) is for sparse, not redundant
            fix = Fix("Remove the cast", "safe", (Edit(cast.span.start, cast.children[1].span.start, ""),))
            yield ctx.finding(self, cast.span,
                              f"cast of {site.allocator.name}()'s void * result to '{cast.children[0].text}' "
                              f"is not needed", fix=fix)
