"""KAL305 use-after-free: freed memory dereferenced or freed again on some path of a function."""

from __future__ import annotations

from kalloclint.checks import Check


class UseAfterFree(Check):
    """
    ## What it does
    Finds, within a function, a dereference (`p->x`, `*p`, `p[i]`, a memset or memcpy of it) or a
    second free of a pointer after it was freed on some path, with no assignment to it in between. It
    follows the paths of the function: `p = NULL` after a free ends it, a free on one branch only counts
    on the paths through that branch, and a free under `if (err)` does not reach code under `if (!err)`.
    Places are compared by their spelling (`p`, `priv->buf`); array elements are left alone.

    ## Why is this bad?
    Freed memory goes back to the allocator and is handed out again: reading it returns someone else's
    data, writing it corrupts someone else's object, and freeing it twice corrupts the allocator itself.
    These are among the most exploited kernel bugs.

    ## Example
    ```c
    kfree(req);
    dev_dbg(dev, "request %u done\\n", req->tag);
    ```

    ## Use instead
    ```c
    dev_dbg(dev, "request %u done\\n", req->tag);
    kfree(req);
    ```

    ## Fix safety
    There is no automatic fix: the use has to move before the free, or the pointer be set again.

    ## References
    - Documentation/dev-tools/kasan.rst (use-after-free and double-free reports)
    - mm/slub.c kfree()
    """

    code = "KAL305"
    name = "use-after-free"
    severity = "error"

    def run(self, ctx):
        lifetimes = ctx.lifetimes()
        for function in lifetimes.functions:
            for use in lifetimes.freed_uses(function):
                line = ctx.line(use.free.span)
                if use.kind == "free":
                    message = f"'{use.key}' is freed again; {use.free.name}() freed it at line {line} on some path"
                else:
                    message = f"'{use.key}' is used after {use.free.name}() freed it at line {line} on some path"
                yield ctx.finding(self, use.span, message,
                                  related=(ctx.related(use.free.span, f"freed here by {use.free.name}()"),))
