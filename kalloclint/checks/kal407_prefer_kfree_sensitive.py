"""KAL407 prefer-kfree-sensitive: a buffer cleared with memset right before it is freed."""

from __future__ import annotations

from kalloclint.analysis.lifetimes import parsed_functions
from kalloclint.analysis.pointers import key_of
from kalloclint.analysis.stmts import statement_call, walk
from kalloclint.checks import Check
from kalloclint.findings import Fix
from kalloclint.frontend.facts import norm

_ZERO = ("0", "'\\0'", "0x00", "0x0")


class PreferKfreeSensitive(Check):
    """
    ## What it does
    Finds `memset(p, 0, ...)` or `memzero_explicit(p, ...)` immediately followed by `kfree(p)` (or
    kvfree, which has kvfree_sensitive): the buffer is cleared by hand because it held a secret.

    ## Why is this bad?
    The compiler may drop a memset() of memory that is freed right after (a dead store), leaving the
    secret in freed memory; and a clear sized by hand may miss part of the object. kfree_sensitive()
    clears the whole allocation, rounded up to its slab object size, with memzero_explicit(), which the
    compiler cannot drop, and frees it in one call.

    ## Example
    ```c
    memset(key, 0, key_len);
    kfree(key);
    ```

    ## Use instead
    ```c
    kfree_sensitive(key);
    ```

    ## Fix safety
    The fix deletes the clearing call and renames the free; it is safe: kfree_sensitive() clears at
    least what the memset did.

    ## References
    - mm/slab_common.c kfree_sensitive()
    - include/linux/string.h memzero_explicit()
    """

    code = "KAL407"
    name = "prefer-kfree-sensitive"
    severity = "info"

    def run(self, ctx):
        fills, frees = ctx.model.fills, ctx.model.frees
        sensitive = {name: f for name, f in frees.items() if f.sensitive}
        for function in parsed_functions(ctx.facts.functions):
            for seq in _sequences(function.body):
                for clear, release in zip(seq, seq[1:]):
                    fill_call = statement_call(function, clear, fills)
                    free_call = statement_call(function, release, sensitive) if fill_call else None
                    if free_call is None or fill_call.in_error or free_call.in_error:
                        continue
                    fill, free = fills[fill_call.name], sensitive[free_call.name]
                    if max(fill.ptr, fill.value or 0) >= len(fill_call.args) or free.ptr >= len(free_call.args):
                        continue
                    if fill.value is not None and norm(fill_call.args[fill.value].text) not in _ZERO:
                        continue
                    key = key_of(fill_call.args[fill.ptr])
                    if key is None or key != key_of(free_call.args[free.ptr]):
                        continue
                    fix = Fix(f"Use {free.sensitive}() and drop the {fill_call.name}()", "safe",
                              (ctx.replace(clear.span, ""), ctx.replace(free_call.name_span, free.sensitive)))
                    yield ctx.finding(
                        self, free_call.span,
                        f"{fill_call.name}() clears '{free_call.args[free.ptr].text}' right before {free_call.name}(); "
                        f"use {free.sensitive}(), which clears the whole object and frees it in one call",
                        fix=fix, related=(ctx.related(fill_call.span, "cleared here"),))


def _sequences(body):
    """Statement lists of a function, with labelled statements opened up (`err: memset(...); kfree(p);`
    has the memset inside the label and the kfree after it)."""
    for stmt in walk(body):
        if stmt.kind in ("block", "case", "label") and stmt.children:
            yield tuple(_flat(stmt.children))


def _flat(seq):
    for stmt in seq:
        if stmt.kind == "label":
            yield from _flat(stmt.children)
        else:
            yield stmt
