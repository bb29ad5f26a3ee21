"""KAL306 unchecked-alloc: an allocation result dereferenced before it is checked against NULL."""

from __future__ import annotations

import os

from kalloclint.analysis.derefs import unchecked_handoffs
from kalloclint.checks import Check
from kalloclint.findings import Finding, Related
from kalloclint.source import Location


class UncheckedAlloc(Check):
    """
    ## What it does
    Finds the first dereference (`p->x`, `*p`, `p[i]`, a memset or memcpy of it) of an allocation's
    result on a path where it was not checked against NULL. A check protects the branch it guards
    only: `if (p) { ... }` protects its body, `if (!p) return ...;` and `if (!p) goto err;` protect
    what follows, as does a driver's own macro that returns or jumps (`if (!p) RET(-ENOMEM);`).
    `p && p->x`, `IS_ERR_OR_NULL()`, `unlikely(!p)`, `WARN_ON(!p)` and `BUG_ON(!p)` count
    as checks. Allocations with `__GFP_NOFAIL` cannot fail and are exempt.

    Handing the unchecked result to a function that dereferences it counts as a dereference: a kernel
    function of `[lifetimes.derefs]` (`strcpy`, `strlen`, `sprintf`, `kstrtoint`, `device_initialize`...),
    or a function of the same file or of another one that dereferences that parameter on every path
    before any test of it (at the top level of its body, before any statement that may return, followed
    two functions further down). A parameter dereferenced only on some paths, after a test of it, or
    only as an address (`&p->lock` kept) does not count. Such a finding is reported at the call, which
    is where the dereference happens as far as the caller can see; the message gives the chain down to
    the dereference (`foo_init() -> foo_setup(buf) dereferences it at foo.c:88`) and the related
    locations the allocation and the dereference.

    A result stored into a field (`priv->buf = kmalloc(...)`, `ctx.buf = ...`) and the struct then
    passed (`setup(priv)`, `setup(&ctx)`) to a function that dereferences that field of its struct
    pointer parameter in the same way (before any test of the field, any store to it and any call given
    the struct, which might set it) is reported at the call too (`... dereferences its field ->buf`).

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
                related = [ctx.related(call.span, f"allocated here by {call.name}()")]
                message = (f"'{use.key}' may be NULL here: {call.name}() at line {ctx.line(call.span)} can fail "
                           f"and its result is not checked on this path")
                if use.via is not None:
                    path = os.path.basename(ctx.facts.path)
                    message += f"; {handed_chain(function.name, use.via.chain, use.key, use.via.field)}"
                    if len(use.via.chain) > 1 or use.via.span != use.span:  # a function of the file
                        message += f" at {path}:{ctx.line(use.via.span)}"
                        related.append(ctx.related(use.via.span, f"'{use.key}' dereferenced here, unchecked"))
                yield ctx.finding(self, use.span, message, related=tuple(related))

    def run_tree(self, tree):
        for caller, handoff, callee, deref in unchecked_handoffs(tree):
            message = (f"'{handoff.key}' may be NULL here: {handoff.allocator}() at line {handoff.allocated.line} "
                       f"can fail and its result is not checked on this path; "
                       f"{handed_chain(caller.name, (handoff.callee, *deref.chain), handoff.key, handoff.field)} "
                       f"at {os.path.basename(deref.place.path)}:{deref.place.line}")
            related = (Related(caller.path, _point(handoff.allocated), f"allocated here by {handoff.allocator}()"),
                       Related(deref.place.path, _point(deref.place),
                               f"'{callee.params[deref.param]}{deref.field}' dereferenced here, unchecked"))
            yield Finding(self.code, self.name, self.severity, message, caller.path, handoff.span,
                          handoff.location, None, related)


def handed_chain(caller: str, chain: tuple[str, ...], key: str, field: str = "") -> str:
    """`foo_init() -> foo_setup(buf) -> foo_fill() dereferences it`: the calls down to the dereference;
    `foo_init() -> foo_setup(priv) dereferences its field ->buf` when the struct holding it is passed."""
    if not field:
        hops = [f"{caller}()", f"{chain[0]}({key})", *(f"{name}()" for name in chain[1:])]
        return " -> ".join(hops) + " dereferences it"
    owner = key[:-len(field)] if key.endswith(field) else "&" + key[:-(len(field) - 1)]
    hops = [f"{caller}()", f"{chain[0]}({owner})", *(f"{name}()" for name in chain[1:])]
    return " -> ".join(hops) + f" dereferences its field {field}"


def _point(place) -> Location:
    return Location(place.line, place.col, place.line, place.col)
