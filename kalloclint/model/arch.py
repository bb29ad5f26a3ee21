"""The modelled allocator's data: arch profiles, C type sizes, kernel typedefs and size macros (rules/arch.toml)."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_ARCH = "x86_64"


@dataclass(frozen=True, slots=True)
class ArchProfile:
    """One architecture and page size: the allocator limits and the C data model."""

    name: str
    description: str
    page_size: int
    page_shift: int
    max_page_order: int
    page_alloc_costly_order: int
    kmalloc_max_cache_size: int
    kmalloc_max_size: int
    kmalloc_classes: tuple[int, ...]
    dma_minalign: int
    devres_header: int
    types: dict[str, tuple[int, int]]  # C type -> (size, align)
    aliases: tuple[str, ...] = ()

    @property
    def pointer(self) -> tuple[int, int]:
        return self.types["pointer"]

    @property
    def bits_per_long(self) -> int:
        return self.types["long"][0] * 8

    def macros(self) -> dict[str, str]:
        """The profile's numbers under their kernel names, as macro bodies."""
        return {
            "PAGE_SHIFT": str(self.page_shift),
            "PAGE_SIZE": f"(1UL << {self.page_shift})",
            "MAX_PAGE_ORDER": str(self.max_page_order),
            "PAGE_ALLOC_COSTLY_ORDER": str(self.page_alloc_costly_order),
            "KMALLOC_SHIFT_HIGH": str(self.page_shift + 1),
            "KMALLOC_SHIFT_MAX": str(self.max_page_order + self.page_shift),
            "KMALLOC_MAX_CACHE_SIZE": f"(1UL << {self.page_shift + 1})",
            "KMALLOC_MAX_SIZE": f"(1UL << {self.max_page_order + self.page_shift})",
            "KMALLOC_MAX_ORDER": str(self.max_page_order),
            "KMALLOC_MIN_SIZE": str(self.kmalloc_classes[0]),
            "BITS_PER_LONG": str(self.bits_per_long),
            "BITS_PER_LONG_LONG": "64",
            "ARCH_DMA_MINALIGN": str(self.dma_minalign),
            "ARCH_KMALLOC_MINALIGN": str(self.kmalloc_classes[0]),
        }

    def size_class(self, size: int) -> tuple[str, int] | None:
        """Where kmalloc(size) comes from, as kmalloc_size_roundup() sees it: (cache or page-order name,
        bytes handed out); None for 0 and for sizes above KMALLOC_MAX_SIZE."""
        if size <= 0 or size > self.kmalloc_max_size:
            return None
        if size <= self.kmalloc_max_cache_size:
            for cls in self.kmalloc_classes:
                if size <= cls:
                    return f"kmalloc-{_short(cls)}", cls
        order = get_order(size, self.page_shift)
        return f"order-{order} pages", self.page_size << order


def get_order(size: int, page_shift: int) -> int:
    """include/asm-generic/getorder.h get_order() of a constant (size 0: undefined, as BITS_PER_LONG - PAGE_SHIFT)."""
    if size <= 0:
        return 64 - page_shift
    if size < (1 << page_shift):
        return 0
    return (size - 1).bit_length() - page_shift


def _short(size: int) -> str:
    """The cache name's size: 96, 1k, 8k, 2M (mm/slab_common.c kmalloc_info)."""
    for unit, suffix in ((1 << 20, "M"), (1 << 10, "k")):
        if size >= unit and size % unit == 0:
            return f"{size // unit}{suffix}"
    return str(size)


@dataclass(frozen=True, slots=True)
class FunctionMacro:
    params: tuple[str, ...]
    body: str


@dataclass(slots=True)
class ArchModel:
    """All profiles plus what every profile shares: typedefs and kernel size macros."""

    profiles: dict[str, ArchProfile] = field(default_factory=dict)
    type_aliases: dict[str, str] = field(default_factory=dict)
    macros: dict[str, str] = field(default_factory=dict)
    functions: dict[str, FunctionMacro] = field(default_factory=dict)

    def profile(self, name: str | None) -> ArchProfile | None:
        key = name or DEFAULT_ARCH
        if key in self.profiles:
            return self.profiles[key]
        return next((p for p in self.profiles.values() if key in p.aliases), None)

    def names(self) -> list[str]:
        return sorted(set(self.profiles) | {a for p in self.profiles.values() for a in p.aliases})


_PROFILE_INTS = ("page_size", "page_shift", "max_page_order", "page_alloc_costly_order", "kmalloc_max_cache_size",
                 "kmalloc_max_size", "dma_minalign", "devres_header")


def load_arch(merged: dict) -> ArchModel:
    """Build the arch model from the merged [arch], [data_model], [type_aliases], [size_macros] and
    [size_functions] tables; ValueError names the entry that is wrong or inconsistent."""
    models = merged.get("data_model", {})
    profiles = {}
    for name, entry in merged.get("arch", {}).items():
        where = f"[arch.{name}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where} must be a table")
        known = set(_PROFILE_INTS) | {"description", "kmalloc_classes", "data_model", "aliases"}
        unknown = sorted(set(entry) - known)
        missing = sorted(k for k in known - {"description", "aliases"} if k not in entry)
        if unknown or missing:
            raise ValueError(f"{where}: {'unknown key ' + unknown[0] if unknown else 'missing key ' + missing[0]}")
        if not all(isinstance(entry[k], int) and not isinstance(entry[k], bool) and entry[k] >= 0
                   for k in _PROFILE_INTS):
            raise ValueError(f"{where}: {', '.join(_PROFILE_INTS)} must be non-negative integers")
        types = models.get(entry["data_model"])
        if not isinstance(types, dict) or not all(
                isinstance(v, list) and len(v) == 2 and all(isinstance(x, int) and x > 0 for x in v)
                for v in types.values()) or "pointer" not in types or "long" not in types:
            raise ValueError(f"{where}: data_model '{entry['data_model']}' must name a [data_model.NAME] table "
                             f"of [size, align] pairs with at least 'pointer' and 'long'")
        classes = entry["kmalloc_classes"]
        if not isinstance(classes, list) or not classes or classes != sorted(classes) \
                or not all(isinstance(c, int) and c > 0 for c in classes):
            raise ValueError(f"{where}: kmalloc_classes must be a rising list of sizes")
        profile = ArchProfile(name, str(entry.get("description", name)), entry["page_size"], entry["page_shift"],
                              entry["max_page_order"], entry["page_alloc_costly_order"],
                              entry["kmalloc_max_cache_size"], entry["kmalloc_max_size"], tuple(classes),
                              entry["dma_minalign"], entry["devres_header"], {k: (v[0], v[1]) for k, v in types.items()},
                              tuple(entry.get("aliases", [])))
        _consistent(where, profile)
        profiles[name] = profile
    functions = {}
    for name, entry in merged.get("size_functions", {}).items():
        if not isinstance(entry, dict) or not isinstance(entry.get("body"), str) \
                or not isinstance(entry.get("params"), list):
            raise ValueError(f"[size_functions] {name}: must be {{ params = [...], body = \"...\" }}")
        functions[name] = FunctionMacro(tuple(entry["params"]), entry["body"])
    for table in ("type_aliases", "size_macros"):
        if not all(isinstance(v, str) for v in merged.get(table, {}).values()):
            raise ValueError(f"[{table}]: every value must be a string")
    return ArchModel(profiles, dict(merged.get("type_aliases", {})), dict(merged.get("size_macros", {})), functions)


def _consistent(where: str, p: ArchProfile) -> None:
    """The kernel derives these numbers from each other (include/linux/slab.h); a profile must agree."""
    checks = [
        (p.page_size == 1 << p.page_shift, "page_size must be 1 << page_shift"),
        (p.kmalloc_max_cache_size == 1 << (p.page_shift + 1), "kmalloc_max_cache_size must be 1 << (PAGE_SHIFT + 1)"),
        (p.kmalloc_max_size == 1 << (p.max_page_order + p.page_shift),
         "kmalloc_max_size must be 1 << (MAX_PAGE_ORDER + PAGE_SHIFT)"),
        (p.kmalloc_classes[-1] == p.kmalloc_max_cache_size, "the last kmalloc class must be KMALLOC_MAX_CACHE_SIZE"),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(f"{where}: {message}")
