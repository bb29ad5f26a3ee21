"""KAL302 devm-manual-free: device-managed memory freed by hand, or devm_kfree() on unmanaged memory."""

from __future__ import annotations

from kalloclint.analysis.lifetimes import allocated_with, origins_of
from kalloclint.analysis.pointers import unwrap
from kalloclint.checks import Check


class DevmManualFree(Check):
    """
    ## What it does
    Finds kfree(), vfree(), kvfree() (and the other unmanaged frees) of memory that only a devm_*
    allocator (devm_kzalloc, devm_kmemdup, devm_kasprintf, dmam_alloc_coherent, devm_get_free_pages,
    ...) can have returned, and devm_kfree() of memory that no devm_* allocator returned. The memory is
    followed like KAL301 follows it: through locals, struct fields across the functions of the file,
    drvdata (`platform_set_drvdata()` in probe, `platform_get_drvdata()` in remove) and wrappers.

    ## Why is this bad?
    Device-managed memory is freed by the driver core when the device unbinds. Freeing it by hand frees
    it a second time then (a double free, or a use after free in between). devm_kfree() of memory the
    device does not manage finds no devres entry: the kernel warns and the memory leaks.

    ## Example
    ```c
    priv = devm_kzalloc(&pdev->dev, sizeof(*priv), GFP_KERNEL);
    ...
    static void foo_remove(struct platform_device *pdev)
    {
    	struct foo_priv *priv = platform_get_drvdata(pdev);

    	kfree(priv);
    }
    ```

    ## Use instead
    ```c
    static void foo_remove(struct platform_device *pdev)
    {
    	/* priv is freed by the driver core */
    }
    ```

    ## Fix safety
    There is no automatic fix: whether to drop the free or to switch the allocation to an unmanaged
    allocator depends on the memory's intended lifetime.

    ## References
    - Documentation/driver-api/driver-model/devres.rst
    - drivers/base/devres.c devm_kfree(): `WARN_ON(rc)` when the memory is not managed
    - scripts/coccinelle/free/devm_free.cocci
    """

    code = "KAL302"
    name = "devm-manual-free"
    severity = "error"

    def run(self, ctx):
        model = ctx.model
        families = model.families
        for function, call, held in ctx.lifetimes().frees():
            origins = origins_of(held)
            free = model.frees[call.name]
            if origins is None or any(o.family in free.families for o in origins):
                continue
            pointer = unwrap(call.args[free.ptr]).text
            related = tuple(ctx.related(o.site, f"allocated here with {o.allocator}()") for o in origins[:3])
            where = allocated_with(origins, ctx.line)
            if all(families[f].managed for f in free.families):
                yield ctx.finding(
                    self, call.span,
                    f"{call.name}() of '{pointer}', which was allocated with {where}: no device manages it, "
                    f"so {call.name}() warns and leaks it — use {families[origins[0].family].frees[0]}()",
                    related=related)
            elif all(families[o.family].managed for o in origins):
                yield ctx.finding(
                    self, call.span,
                    f"'{pointer}' was allocated with {where}; {call.name}() frees it now and the device frees "
                    f"it again when the driver unbinds — drop the {call.name}() or use "
                    f"{families[origins[0].family].frees[0]}()",
                    related=related)
