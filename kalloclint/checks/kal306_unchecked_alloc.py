"""KAL306 unchecked-alloc: an allocation result dereferenced before it is checked against NULL."""

from __future__ import annotations

from kalloclint.checks import Check


class UncheckedAlloc(Check):
    """
    ## What it does
    Finds the first dereference (`p->x`, `*p`, `p[i]`, a memset or memcpy of it) of an allocation's
    result on a path where it was not checked against NULL. A check protects the branch it guards
    only: `if (p) { ... }` protects its body, `if (!p) return ...;` and `if (!p) goto err;` protect
    what follows, as does a driver's own macro that returns or jumps (`if (!p) RET(-ENOMEM);`).
    `p && p->x`, `IS_ERR_OR_NULL()`, `unlikely(!p)`, `WARN_ON(!p)` and `BUG_ON(!p)` count
    as checks. Allocations with `__GFP_NOFAIL` cannot fail and are exempt.

    ## Why is this bad?
    Every allocator may return NULL (even GFP_KERNEL ones, under memory pressure or fault injection).
    Dereferencing it oopses the kernel, and with a large offset may reach a mapped address instead.

    ## Example
    ```c
    ev = kmalloc(sizeof(*ev), GFP_ATOMIC);
    ev->code = code;
    ```

    ## Use instead
    ```c
    ev = kmalloc(sizeof(*ev), GFP_ATOMIC);
    if (!ev)
    	return -ENOMEM;
    ev->code = code;
    ```

    ## Fix safety
    There is no automatic fix: what the function should do when the allocation fails is its own choice.

    ## References
    - Documentation/core-api/memory-allocation.rst ("always check the return value")
    - Documentation/process/coding-style.rst (allocation failure paths)
    """

    code = "KAL306"
    name = "unchecked-alloc"
    severity = "warning"

    def run(self, ctx):
        lifetimes = ctx.lifetimes()
        for function in lifetimes.functions:
            for use in lifetimes.unchecked_uses(function):
                call = use.allocation
                yield ctx.finding(
                    self, use.span,
                    f"'{use.key}' may be NULL here: {call.name}() at line {ctx.line(call.span)} can fail and its "
                    f"result is not checked on this path",
                    related=(ctx.related(call.span, f"allocated here by {call.name}()"),))
