"""KAL405 prefer-devm: probe memory freed by hand on the error paths and in remove."""

from __future__ import annotations

from kalloclint.analysis.lifetimes import Origin
from kalloclint.checks import Check

_PROBE = (".probe",)
_REMOVE = (".remove", ".remove_new")


class PreferDevm(Check):
    """
    ## What it does
    Finds allocations in a driver's probe function (a function set as `.probe` of an ops struct) of
    kmalloc-family memory that has a device-managed twin (kzalloc -> devm_kzalloc, kcalloc ->
    devm_kcalloc, kstrdup -> devm_kstrdup, ...) when the memory is freed both in the probe function (or
    a helper it calls) and in the driver's `.remove` function (or a helper it calls), followed through
    struct fields and drvdata.

    ## Why is this bad?
    A probe that frees by hand needs a matching free on every error path and in remove, in the right
    order; missing one is a leak, doubling one is a double free. The devm_* allocators tie the memory to
    the device: the driver core frees it when probe fails or the device unbinds.

    ## Example
    ```c
    priv->buf = kzalloc(SZ_4K, GFP_KERNEL);
    ...
    err_free_buf:
    	kfree(priv->buf);
    	return ret;
    ...
    static void foo_remove(struct platform_device *pdev)
    {
    	kfree(priv->buf);
    }
    ```

    ## Use instead
    ```c
    priv->buf = devm_kzalloc(&pdev->dev, SZ_4K, GFP_KERNEL);
    ```

    ## Fix safety
    There is no automatic fix: the frees on the error paths and in remove have to go at the same time,
    and the device pointer has to be found.

    ## References
    - Documentation/driver-api/driver-model/devres.rst
    - include/linux/device.h (devm_kzalloc and friends)
    """

    code = "KAL405"
    name = "prefer-devm"
    severity = "info"

    def run(self, ctx):
        roles = {f.name: {r.how for r in ctx.roles(f)} for f in ctx.facts.functions}
        probes = [f for f in ctx.facts.functions if roles[f.name] & set(_PROBE)]
        removes = {name for name, hows in roles.items() if hows & set(_REMOVE)}
        if not probes or not removes:
            return
        callees = _callees(ctx.facts.functions)
        in_remove = _reach(removes, callees)
        frees = ctx.lifetimes().frees()
        for probe in probes:
            in_probe = _reach({probe.name}, callees)
            for call in probe.calls:
                allocator = ctx.model.allocators.get(call.name)
                if allocator is None or allocator.devm is None or call.target is None or call.in_error:
                    continue
                origin = Origin(allocator.family, call.name, call.span, probe.name)
                freed = [(fn, c) for fn, c, held in frees if held and origin in held]
                on_error = [(fn, c) for fn, c in freed if fn.name in in_probe]
                on_remove = [(fn, c) for fn, c in freed if fn.name in in_remove]
                if not on_error or not on_remove:
                    continue
                remove = sorted(removes & {f.name for f in ctx.facts.functions})[0] if removes else "remove"
                yield ctx.finding(
                    self, call.span,
                    f"'{call.target.text}' is freed by hand when {probe.name}() fails ({_where(ctx, on_error[0])}) "
                    f"and when the device goes away ({_where(ctx, on_remove[0])}); {allocator.devm}() would "
                    f"free it with the device",
                    related=(ctx.related(on_error[0][1].span, f"freed if {probe.name}() fails"),
                             ctx.related(on_remove[0][1].span, f"freed by {remove}()")))


def _where(ctx, free) -> str:
    function, call = free
    return f"{function.name}(), line {ctx.line(call.span)}"


def _callees(functions) -> dict[str, set[str]]:
    defined = {f.name for f in functions}
    out: dict[str, set[str]] = {}
    for f in functions:
        out.setdefault(f.name, set()).update(c.name for c in f.calls if c.name in defined)
    return out


def _reach(roots: set[str], callees: dict[str, set[str]]) -> set[str]:
    """The functions of the file that `roots` run, directly or through calls."""
    seen, stack = set(roots), list(roots)
    while stack:
        for name in callees.get(stack.pop(), ()):
            if name not in seen:
                seen.add(name)
                stack.append(name)
    return seen
