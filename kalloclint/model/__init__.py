"""The kernel API model: rules/*.toml (and users' model files) loaded into plain lookup tables."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from kalloclint.model.arch import ArchModel, load_arch
from kalloclint.model.gfp import GfpAlgebra
from kalloclint.tomlcompat import tomllib


class ModelError(Exception):
    """A model file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class Allocator:
    """A function that returns new memory, with the positions of its arguments."""

    name: str
    family: str
    limit: str
    returns: str
    size: int | None = None
    count: int | None = None
    gfp: int | None = None
    order: int | None = None
    realloc: int | None = None
    zeroed: bool = False
    zeroing: str | None = None
    array: str | None = None
    dup: str | None = None
    sleeps: str | None = None
    source: int | None = None
    devm: str | None = None


@dataclass(frozen=True, slots=True)
class Free:
    """A function that releases memory of the given families."""

    name: str
    ptr: int
    families: tuple[str, ...]
    null_ok: bool = False
    order: int | None = None
    sensitive: str | None = None


@dataclass(frozen=True, slots=True)
class Family:
    """An allocation family: the frees that match it (the one to suggest first), whether a device owns
    the memory (devm_*: freed when the driver unbinds), and what to call it in messages."""

    name: str
    frees: tuple[str, ...]
    managed: bool = False
    what: str = ""
    orders: bool = False  # 2^order pages: an allocator or free without an order position means order 0
    parts: tuple[str, ...] = ()  # the families the memory is really one of (kvmalloc: slab or vmalloc)


@dataclass(frozen=True, slots=True)
class Lifetimes:
    """What the lifetime analysis needs to know beyond allocators and frees ([lifetimes] of the model)."""

    unevaluated: frozenset[str] = frozenset()  # macros whose arguments are not evaluated (sizeof-based)
    null_tests: frozenset[str] = frozenset()  # calls true when their pointer argument is NULL
    transparent: frozenset[str] = frozenset()  # calls whose truth is their first argument's
    asserts: frozenset[str] = frozenset()  # calls that do not return when their argument is true
    error_pointers: frozenset[str] = frozenset()  # calls that make an error value, not memory
    error_codes: frozenset[str] = frozenset()  # calls that return a negative errno (PTR_ERR)
    # calls a test may contain and still give the same answer again: [pure] and the transparent ones
    pure: frozenset[str] = frozenset()
    reassigns: frozenset[str] = frozenset()  # macros that assign to their arguments (swap)
    drvdata_set: dict[str, int] = field(default_factory=dict)  # setter -> position of the stored pointer
    drvdata_get: frozenset[str] = frozenset()
    address_tests: dict[str, str] = field(default_factory=dict)  # is_vmalloc_addr(p) -> "vmalloc"
    ensures: dict[str, int] = field(default_factory=dict)  # KUNIT_ASSERT_NOT_NULL -> position of what holds after
    derefs: dict[str, frozenset[int]] = field(default_factory=dict)  # strcpy -> the positions it dereferences
    never_null: frozenset[str] = frozenset()  # allocators that fail with an ERR_PTR(), not NULL


@dataclass(frozen=True, slots=True)
class Fill:
    """memset-like: writes `value` (None: always zero) over `size` bytes at `ptr`."""

    name: str
    ptr: int
    size: int
    value: int | None = None


@dataclass(frozen=True, slots=True)
class Copy:
    """memcpy-like: copies `size` bytes from `src` to `dst`."""

    name: str
    dst: int
    src: int
    size: int


@dataclass(frozen=True, slots=True)
class DmaBuffers:
    """Where a buffer goes to a device (rules/memory.toml [dma_buffers]): calls with the positions of
    their buffer arguments, and the struct members that hold such buffers."""

    uses: dict[str, tuple[int, ...]] = field(default_factory=dict)
    fields: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class LockOp:
    """A primitive that enters (acquire, try) or leaves (release) an atomic or locked region."""

    name: str
    kind: str
    op: str
    arg: int | None = None
    also: str | None = None  # a lock-less region entered or left as well (spin_lock_bh: softirqs off)


@dataclass(frozen=True, slots=True)
class Registration:
    """A call that makes its function-pointer arguments handlers running in the given contexts."""

    name: str
    handlers: tuple[tuple[int, str], ...]
    flags: int | None = None


@dataclass(frozen=True, slots=True)
class Contexts:
    """Locks, handler registrations, ops-struct callbacks and sleeping functions (rules/contexts.toml)."""

    locks: dict[str, LockOp]
    guards: dict[str, str]
    registrations: dict[str, Registration]
    no_thread_flags: frozenset[str]
    ops: dict[str, dict[str, str]]
    process_annotations: frozenset[str]
    sleepers: frozenset[str]
    noreturn: frozenset[str]
    poll_sleepers: dict[str, int] = field(default_factory=dict)  # readl_poll_timeout(): sleeps unless arg N is 0
    hints: frozenset[str] = frozenset()  # likely(), unlikely(): a test wrapped in one is the test
    bug_checks: frozenset[str] = frozenset()  # `if (WARN_ON(x))`: the true branch runs only on a kernel bug
    busy_waits: frozenset[str] = frozenset()  # udelay(): the non-sleeping twin of a sleep
    pure: frozenset[str] = frozenset()  # strcmp(): the same result each time for the same arguments
    lock_types: dict[str, str] = field(default_factory=dict)  # `spinlock_t` -> spin: what kind a lock is


ATOMIC_CONTEXTS = frozenset({"hardirq", "softirq", "nmi", "atomic"})
LOCK_KINDS = frozenset({"spin", "raw_spin", "rw", "rcu", "preempt", "irq", "bh", "mutex", "sem"})


@dataclass(frozen=True, slots=True)
class Macros:
    """What the source rewrite blanks or reshapes before parsing."""

    blank: frozenset[str]
    blank_call: frozenset[str]
    loop_words: tuple[str, ...]
    guard_block: frozenset[str]
    type_args: dict[str, int]


@dataclass(slots=True)
class Model:
    """Everything kalloclint knows about the kernel API, loaded from TOML files."""

    allocators: dict[str, Allocator]
    frees: dict[str, Free]
    fills: dict[str, Fill]
    copies: dict[str, Copy]
    size_helpers: frozenset[str]
    constant_macros: frozenset[str]
    type_macros: frozenset[str]  # ARRAY_SIZE(x): constant whatever x is, as sizeof is
    gfp: GfpAlgebra
    macros: Macros
    contexts: Contexts
    digest: str
    files: tuple[str, ...]
    interesting: frozenset[str] = field(default_factory=frozenset)
    arch: ArchModel = field(default_factory=ArchModel)
    families: dict[str, Family] = field(default_factory=dict)
    lifetimes: Lifetimes = field(default_factory=Lifetimes)
    dma_buffers: DmaBuffers = field(default_factory=DmaBuffers)
    overflow_limits: frozenset[str] = frozenset()  # SIZE_MAX...: what a hand-written overflow check divides

    def __post_init__(self) -> None:
        self.interesting = frozenset(self.allocators) | frozenset(self.frees) | frozenset(
            self.fills) | frozenset(self.copies) | self.size_helpers | frozenset(self.contexts.locks) | frozenset(
            self.contexts.registrations) | self.lifetimes.asserts | self.lifetimes.reassigns | frozenset(
            self.lifetimes.ensures) | frozenset(self.contexts.poll_sleepers)  # their sleep interval is folded


def builtin_model_dir() -> Path:
    """rules/ inside an installed wheel, or at the top of a source checkout."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "rules", here.parent / "rules"):
        if candidate.is_dir():
            return candidate
    raise ModelError(f"the built-in model (rules/*.toml) is missing next to {here}")


def load_model(extra_files: tuple[str, ...] = ()) -> Model:
    """Load the built-in rules/*.toml, then the user's model files, later files adding to earlier ones."""
    paths = sorted(builtin_model_dir().glob("*.toml")) + [Path(p) for p in extra_files]
    merged: dict[str, dict] = {}
    origins: dict[tuple[str, str], Path] = {}
    digest = hashlib.sha256()
    for path in paths:
        try:
            raw = path.read_bytes()
            doc = tomllib.loads(raw.decode("utf-8"))
        except OSError as exc:
            raise ModelError(f"{path}: cannot read model file: {exc.strerror or exc}") from None
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ModelError(f"{path}: not valid TOML: {exc}") from None
        digest.update(raw)
        for section, table in doc.items():
            if section not in _SECTIONS:
                raise ModelError(f"{path}: unknown section [{section}] (known: {', '.join(sorted(_SECTIONS))})")
            if not isinstance(table, dict):
                raise ModelError(f"{path}: [{section}] must be a table")
            _validate(path, section, table, origins)
            _merge(merged.setdefault(section, {}), table)
    return _build(merged, digest.hexdigest(), tuple(str(p) for p in paths), origins)


_SECTIONS = {"alloc", "free", "fill", "copy", "size_helpers", "constant_macros", "type_macros", "gfp", "macros", "lock",
             "guard", "register", "ops", "annotations", "sleepers", "poll_sleepers", "noreturn", "hints", "bug_checks", "busy_waits", "pure",
             "lock_types",
             "dma_buffers", "overflow_limits", "arch", "data_model", "type_aliases", "size_macros", "size_functions", "family", "lifetimes"}


def _merge(into: dict, new: dict) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        elif isinstance(value, list) and isinstance(into.get(key), list):
            into[key] = into[key] + [v for v in value if v not in into[key]]
        else:
            into[key] = value


def _validate(path: Path, section: str, table: dict, origins: dict[tuple[str, str], Path]) -> None:
    """Check the keys and value types of one file's [section.NAME] entries."""
    fields = _ENTRY_FIELDS.get(section)
    if fields is None:
        return
    for name, entry in table.items():
        if not isinstance(entry, dict):
            raise ModelError(f"{path}: [{section}.{name}] must be a table")
        origins[(section, name)] = path
        for key, value in entry.items():
            want = fields.get(key)
            if want is None:
                raise ModelError(f"{path}: [{section}.{name}]: unknown key '{key}' (known: {', '.join(fields)})")
            if not isinstance(value, want) or (want is int and isinstance(value, bool)):
                raise ModelError(f"{path}: [{section}.{name}]: key '{key}' must be {want.__name__}")


def _entries(merged: dict, section: str, cls: type, origins: dict[tuple[str, str], Path]) -> dict:
    out = {}
    for name, entry in merged.get(section, {}).items():
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in entry.items()}
        try:
            out[name] = cls(name=name, **kwargs)
        except TypeError:
            missing = [f for f in cls.__dataclass_fields__ if f != "name" and f not in entry
                       and cls.__dataclass_fields__[f].default is dataclasses.MISSING]
            raise ModelError(f"{origins.get((section, name), '?')}: [{section}.{name}]: missing key "
                             f"'{missing[0] if missing else '?'}'") from None
    return out


_ALLOC_FIELDS = {"family": str, "limit": str, "returns": str, "size": int, "count": int, "gfp": int,
                 "order": int, "realloc": int, "zeroed": bool, "zeroing": str, "array": str, "dup": str,
                 "sleeps": str, "source": int, "devm": str}
_FREE_FIELDS = {"ptr": int, "families": list, "null_ok": bool, "order": int, "sensitive": str}
_FAMILY_FIELDS = {"frees": list, "managed": bool, "what": str, "orders": bool, "parts": list}
_ENTRY_FIELDS = {"alloc": _ALLOC_FIELDS, "free": _FREE_FIELDS, "family": _FAMILY_FIELDS,
                 "lock": {"kind": str, "op": str, "arg": int, "also": str},
                 "fill": {"ptr": int, "size": int, "value": int},
                 "copy": {"dst": int, "src": int, "size": int}}


def _build(merged: dict, digest: str, files: tuple[str, ...], origins: dict[tuple[str, str], Path]) -> Model:
    macros = merged.get("macros", {})
    try:
        gfp = GfpAlgebra.from_table(merged.get("gfp", {}))
    except ValueError as exc:
        raise ModelError(f"{files[-1]}: {exc}") from None
    try:
        arch = load_arch(merged)
    except ValueError as exc:
        raise ModelError(f"rules/arch.toml or a model file: {exc}") from None
    allocators = _entries(merged, "alloc", Allocator, origins)
    frees = _entries(merged, "free", Free, origins)
    families = _entries(merged, "family", Family, origins)
    contexts = _contexts(merged, origins)
    _check_families(allocators, frees, families, origins)
    return Model(
        allocators=allocators,
        frees=frees,
        fills=_entries(merged, "fill", Fill, origins),
        copies=_entries(merged, "copy", Copy, origins),
        size_helpers=frozenset(merged.get("size_helpers", {}).get("names", [])),
        constant_macros=frozenset(merged.get("constant_macros", {}).get("names", [])),
        type_macros=frozenset(merged.get("type_macros", {}).get("names", [])),
        gfp=gfp,
        contexts=contexts,
        macros=Macros(
            blank=frozenset(macros.get("blank", [])),
            blank_call=frozenset(macros.get("blank_call", [])),
            loop_words=tuple(macros.get("loop", [])),
            guard_block=frozenset(macros.get("guard_block", [])),
            type_args=dict(macros.get("type_args", {})),
        ),
        digest=digest,
        files=files,
        arch=arch,
        families=families,
        lifetimes=_lifetimes(merged.get("lifetimes", {}), contexts.pure, contexts.hints),
        dma_buffers=_dma_buffers(merged.get("dma_buffers", {})),
        overflow_limits=frozenset(merged.get("overflow_limits", {}).get("names", [])),
    )


def _dma_buffers(table: dict) -> DmaBuffers:
    uses = {}
    for name, positions in table.get("uses", {}).items():
        if not isinstance(positions, list) or not all(isinstance(p, int) and not isinstance(p, bool)
                                                      for p in positions):
            raise ModelError(f"[dma_buffers.uses] {name}: must be a list of argument positions")
        uses[name] = tuple(positions)
    return DmaBuffers(uses, frozenset(table.get("fields", [])))


def _check_families(allocators: dict, frees: dict, families: dict, origins: dict) -> None:
    """Every family an allocator or free names is defined, and every family's frees accept it."""
    for section, table in (("alloc", allocators), ("free", frees)):
        for name, entry in table.items():
            named = (entry.family,) if section == "alloc" else entry.families
            for family in named:
                if family not in families:
                    raise ModelError(f"{origins.get((section, name), '?')}: [{section}.{name}]: family '{family}' "
                                     f"is not defined in a [family.{family}] table")
    for name, family in families.items():
        for part in family.parts:
            if part not in families:
                raise ModelError(f"{origins.get(('family', name), '?')}: [family.{name}]: part '{part}' is not a "
                                 f"family")
        for free in family.frees:
            if free not in frees or name not in frees[free].families:
                raise ModelError(f"{origins.get(('family', name), '?')}: [family.{name}]: '{free}' is not a "
                                 f"[free] entry that accepts the family")
    for name, allocator in allocators.items():
        twin = allocators.get(allocator.devm) if allocator.devm else None
        if allocator.devm and (twin is None or not families[twin.family].managed):
            raise ModelError(f"{origins.get(('alloc', name), '?')}: [alloc.{name}]: devm '{allocator.devm}' is "
                             f"not an allocator of a managed family")


_LIFETIME_LISTS = ("unevaluated", "null_tests", "transparent", "asserts", "error_pointers", "error_codes",
                   "reassigns", "drvdata_get", "never_null")


def _lifetimes(table: dict, pure: frozenset[str], hints: frozenset[str]) -> Lifetimes:
    where = "[lifetimes] (rules/lifetimes.toml or a model file)"
    for key, value in table.items():
        if key in _LIFETIME_LISTS:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ModelError(f"{where}: '{key}' must be a list of names")
        elif key in ("drvdata_set", "ensures"):
            if not isinstance(value, dict) or not all(isinstance(v, int) and not isinstance(v, bool)
                                                      for v in value.values()):
                raise ModelError(f"{where}: '{key}' must map names to argument positions")
        elif key == "address_tests":
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise ModelError(f"{where}: 'address_tests' must map names to families")
        elif key == "derefs":
            if not isinstance(value, dict) or not all(
                    isinstance(v, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in v)
                    for v in value.values()):
                raise ModelError(f"{where}: 'derefs' must map names to lists of argument positions")
        else:
            raise ModelError(f"{where}: unknown key '{key}' (known: {', '.join(_LIFETIME_LISTS)}, drvdata_set, "
                             f"address_tests, ensures, derefs)")
    lists = {key: frozenset(table.get(key, [])) for key in _LIFETIME_LISTS}
    lists["transparent"] |= hints  # a hint's truth is its argument's
    return Lifetimes(drvdata_set=dict(table.get("drvdata_set", {})),
                     address_tests=dict(table.get("address_tests", {})), ensures=dict(table.get("ensures", {})),
                     derefs={name: frozenset(v) for name, v in table.get("derefs", {}).items()},
                     pure=pure | lists["transparent"], **lists)


def _contexts(merged: dict, origins: dict[tuple[str, str], Path]) -> Contexts:
    locks = _entries(merged, "lock", LockOp, origins)
    for lock in locks.values():
        if lock.kind not in LOCK_KINDS or lock.op not in ("acquire", "release", "try"):
            raise ModelError(f"{origins.get(('lock', lock.name), '?')}: [lock.{lock.name}]: kind must be one of "
                             f"{', '.join(sorted(LOCK_KINDS))} and op one of acquire, release, try")
    register = dict(merged.get("register", {}))
    no_thread = register.pop("no_thread", [])
    registrations = {}
    for name, entry in register.items():
        where = f"{origins.get(('register', name), 'model')}: [register.{name}]"
        handlers = entry.get("handlers") if isinstance(entry, dict) else None
        if not isinstance(handlers, list) or not all(
                isinstance(h, list) and len(h) == 2 and isinstance(h[0], int) and h[1] in _CONTEXTS for h in handlers):
            raise ModelError(f"{where}: 'handlers' must be a list of [position, context] with a context among "
                             f"{', '.join(sorted(_CONTEXTS))}")
        registrations[name] = Registration(name, tuple((h[0], h[1]) for h in handlers), entry.get("flags"))
    for fields in merged.get("ops", {}).values():
        for field_name, context in fields.items():
            if context not in _CONTEXTS:
                raise ModelError(f"[ops]: '{field_name}' has unknown context '{context}'")
    guards = dict(merged.get("guard", {}))
    for cls, kind in guards.items():
        if kind not in LOCK_KINDS:
            raise ModelError(f"[guard]: '{cls}' has unknown lock kind '{kind}'")
    return Contexts(
        locks=locks,
        guards=guards,
        registrations=registrations,
        no_thread_flags=frozenset(no_thread),
        ops={k: dict(v) for k, v in merged.get("ops", {}).items()},
        process_annotations=frozenset(merged.get("annotations", {}).get("process", [])),
        sleepers=frozenset(merged.get("sleepers", {}).get("names", [])),
        poll_sleepers=_poll_sleepers(merged.get("poll_sleepers", {})),
        noreturn=frozenset(merged.get("noreturn", {}).get("names", [])),
        hints=frozenset(merged.get("hints", {}).get("names", [])),
        bug_checks=frozenset(merged.get("bug_checks", {}).get("names", [])),
        busy_waits=frozenset(merged.get("busy_waits", {}).get("names", [])),
        pure=frozenset(merged.get("pure", {}).get("names", [])),
        lock_types=_lock_types(merged.get("lock_types", {})),
    )


def _poll_sleepers(table: dict) -> dict[str, int]:
    for name, index in table.items():
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise ModelError(f"[poll_sleepers]: '{name}' must give the position of its sleep interval argument")
    return dict(table)


def _lock_types(table: dict) -> dict[str, str]:
    for name, kind in table.items():
        if kind not in LOCK_KINDS:
            raise ModelError(f"[lock_types]: '{name}' has unknown lock kind '{kind}'")
    return dict(table)


_CONTEXTS = ATOMIC_CONTEXTS | {"process"}
