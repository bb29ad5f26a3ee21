"""KAL404 needless-free-check: a NULL check around a free that accepts NULL."""

from __future__ import annotations

from kalloclint.analysis.stmts import is_nonnull_test, single_statement, statement_call, walk
from kalloclint.checks import Check
from kalloclint.findings import Edit, Fix
from kalloclint.frontend.facts import norm


class NeedlessFreeCheck(Check):
    """
    ## What it does
    Finds `if (p) kfree(p);` and the same for the other frees that accept NULL: vfree, kvfree,
    kfree_sensitive and kmem_cache_free's object. Braces around the single call and `p != NULL`
    count too.

    ## Why is this bad?
    Freeing NULL is a no-op for these functions, so the check is dead code that every reader must
    still read; checkpatch reports the same pattern.

    ## Example
    ```c
    if (priv->fw_buf)
    	vfree(priv->fw_buf);
    ```

    ## Use instead
    ```c
    vfree(priv->fw_buf);
    ```

    ## Fix safety
    The fix removes the `if` and keeps the call; it is safe.

    ## References
    - mm/slub.c kfree(), mm/vmalloc.c vfree(), mm/util.c kvfree(): "If @objp is NULL, no operation is
      performed"
    - scripts/checkpatch.pl, NEEDLESS_IF
    """

    code = "KAL404"
    name = "needless-free-check"
    severity = "info"

    def run(self, ctx):
        frees = {n: f for n, f in ctx.model.frees.items() if f.null_ok}
        for function in ctx.facts.functions:
            for stmt in walk(function.body):
                if stmt.kind != "if" or stmt.alt is not None or stmt.cond is None or stmt.macro \
                        or not stmt.children:
                    continue
                branch = stmt.children[0]
                inner = single_statement(branch)
                call = statement_call(function, inner, frees) if inner is not None else None
                if call is None or call.in_error:
                    continue
                free = frees[call.name]
                if free.ptr >= len(call.args) or not is_nonnull_test(stmt.cond, norm(call.args[free.ptr].text)):
                    continue
                edits = [Edit(stmt.span.start, inner.span.start, "")]
                if branch is not inner:
                    edits.append(Edit(inner.span.end, stmt.span.end, ""))
                yield ctx.finding(self, stmt.span,
                                  f"{call.name}() accepts NULL; the check of '{call.args[free.ptr].text}' is "
                                  f"not needed", fix=Fix("Remove the NULL check", "safe", tuple(edits)))
