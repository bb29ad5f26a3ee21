"""KAL307 kmem-cache-leak: a slab cache that is never destroyed, or not destroyed when init fails."""

from __future__ import annotations

from kalloclint.analysis.lifetimes import UNKNOWN, Origin
from kalloclint.checks import Check


class KmemCacheLeak(Check):
    """
    ## What it does
    Finds slab caches created (kmem_cache_create, KMEM_CACHE, kmem_cache_create_usercopy,
    KMEM_CACHE_USERCOPY) into a variable or struct field that no kmem_cache_destroy() in the file ever
    receives, in a file with a module teardown (`module_exit()`, `__exit`), and caches an init function
    (`__init`, `module_init()`, `*_initcall()`) creates and then leaves undestroyed on an error path: a
    return of `-E...`, `PTR_ERR()`, or of a variable known to be nonzero on that path (`if (ret) return
    ret;`), with no kmem_cache_destroy() on the way, directly or in a function of the file it calls.
    Reported at the creation. Caches created with `SLAB_PANIC` are meant to live as long as the kernel;
    caches handed to another function or returned are left alone, and so is a file that destroys a
    cache the analysis cannot name.

    ## Why is this bad?
    A slab cache lives until it is destroyed. One left behind when the module is unloaded (or when its
    init fails) keeps its memory and its /sys/kernel/slab entry; loading the module again fails to
    create a cache of the same name, or creates a second one.

    ## Example
    ```c
    static int __init foo_init(void)
    {
    	foo_cache = KMEM_CACHE(foo_req, 0);
    	if (!foo_cache)
    		return -ENOMEM;
    	ret = register_foo();
    	if (ret)
    		return ret;
    	return 0;
    }
    ```

    ## Use instead
    ```c
    	ret = register_foo();
    	if (ret) {
    		kmem_cache_destroy(foo_cache);
    		return ret;
    	}
    ```

    ## Fix safety
    There is no automatic fix: where the cache must be destroyed depends on the module's teardown.

    ## References
    - mm/slab_common.c kmem_cache_create(), kmem_cache_destroy()
    - include/linux/slab.h (KMEM_CACHE)
    """

    code = "KAL307"
    name = "kmem-cache-leak"
    severity = "warning"

    def run(self, ctx):
        lifetimes = ctx.lifetimes()
        frees = ctx.model.frees
        destroyed: set[Origin] = set()
        nameable = True
        for _, call, held in lifetimes.frees():
            if "slab_cache" in frees[call.name].families:
                nameable &= held is not None and UNKNOWN not in held
                destroyed |= {o for o in held or () if isinstance(o, Origin)}
        reported = set()
        teardown = any(c.name == "module_exit" for c in ctx.facts.file_calls) or any(
            "__exit" in f.annotations for f in ctx.facts.functions)
        for site in ctx.alloc_sites():
            call, function = site.call, site.function
            if function.span.start not in lifetimes.parsed:
                continue
            if site.allocator.family != "slab_cache" or call.target is None or call.use not in ("assign", "init"):
                continue
            if not teardown or any("SLAB_PANIC" in a.text for a in call.args):
                continue  # built-in code, or a cache meant to live as long as the kernel
            origin = Origin(site.allocator.family, call.name, call.span, function.name)
            kept = lifetimes.stored_fields(origin)
            if not nameable or origin in destroyed or origin in lifetimes.returned(function.name) or (
                    function.decl(call.target.text) is not None and not kept):
                continue
            reported.add(call.span.start)
            yield ctx.finding(
                self, call.span,
                f"the slab cache {call.name}() creates into '{call.target.text}' is never given to "
                f"kmem_cache_destroy() in this file: it outlives the module")
        for function in lifetimes.functions:
            if not _is_init(ctx, function):
                continue
            for leak in lifetimes.cache_leaks(function):
                if leak.creation.span.start in reported:
                    continue
                reported.add(leak.creation.span.start)
                yield ctx.finding(
                    self, leak.creation.span,
                    f"'{leak.key}' created by {leak.creation.name}() is not destroyed when {function.name}() "
                    f"fails at line {ctx.line(leak.exit)}",
                    related=(ctx.related(leak.exit, "returns an error with the cache alive"),))


def _is_init(ctx, function) -> bool:
    """A module or built-in init function: `__init`, or registered with module_init() or an initcall."""
    if "__init" in function.annotations:
        return True
    return any(r.how == "module_init()" or r.how.endswith("initcall()") for r in ctx.roles(function))
