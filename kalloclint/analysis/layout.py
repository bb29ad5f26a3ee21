"""C layout of types under an arch profile: sizes, alignments and member offsets of structs and unions.

The rules are GCC's for the LP64 ABIs the profiles describe (x86-64 psABI, AAPCS64): members at their
alignment, the record padded to its largest alignment, bit-fields packed into units of their declared type
without straddling one, `packed` dropping member alignment, `aligned(n)` raising it, a flexible array
adding alignment but no size. What is not known (a type defined nowhere in scope, members under #if) is
reported as Unknown with the reason, never guessed."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from kalloclint.analysis.scope import Scope
from kalloclint.frontend.facts import Decl, StructDef
from kalloclint.model.arch import ArchModel, ArchProfile


@dataclass(frozen=True, slots=True)
class Unknown:
    """A value or layout the folder cannot know, and why."""

    reason: str


@dataclass(frozen=True, slots=True)
class TypeRef:
    """A type as written: base spelling, pointer depth, array dimensions (outermost first) and the record
    whose inline definitions `struct @N` names refer to."""

    base: str
    pointer: int = 0
    dims: tuple[str, ...] = ()
    owner: StructDef | None = None

    def element(self) -> TypeRef | None:
        """The type one `*` or `[i]` below this one."""
        if self.dims:
            return TypeRef(self.base, self.pointer, self.dims[1:], self.owner)
        if self.pointer:
            return TypeRef(self.base, self.pointer - 1, (), self.owner)
        return None


@dataclass(frozen=True, slots=True)
class Member:
    name: str
    offset: int
    size: int
    type: TypeRef
    bits: int | None = None
    bit_offset: int | None = None  # from the start of the record


@dataclass(frozen=True, slots=True)
class Layout:
    size: int
    align: int
    members: tuple[Member, ...] = ()
    record: StructDef | None = None


_WORDS = frozenset({"const", "volatile", "restrict", "__restrict", "static", "extern", "register", "inline",
                    "_Atomic", "auto", "__const", "__volatile__"})
_DIMS = re.compile(r"\[([^\[\]]*)\]\s*$")
_INTEGER = {"char": (8, False), "signed char": (8, True), "unsigned char": (8, False), "short": (16, True),
            "unsigned short": (16, False), "int": (32, True), "unsigned int": (32, False), "long": (64, True),
            "unsigned long": (64, False), "long long": (64, True), "unsigned long long": (64, False),
            "__int128": (128, True), "unsigned __int128": (128, False), "_Bool": (8, False), "enum": (32, True)}


def canonical(text: str) -> str:
    """One spelling per C type: `long unsigned int` -> `unsigned long`, `const u32` -> `u32`."""
    words = [w for w in text.replace("*", " ").split() if w not in _WORDS]
    if not words:
        return ""
    if words[0] in ("struct", "union", "enum"):
        return " ".join(words[:2])
    unsigned = "unsigned" in words
    signed = "signed" in words
    longs = words.count("long")
    if "char" in words:
        return "unsigned char" if unsigned else "signed char" if signed else "char"
    if "short" in words:
        return "unsigned short" if unsigned else "short"
    if "__int128" in words:
        return "unsigned __int128" if unsigned else "__int128"
    if longs:
        name = "long long" if longs >= 2 else "long"
        return f"unsigned {name}" if unsigned else name
    if "int" in words or unsigned or signed:
        return "unsigned int" if unsigned else "int"
    return " ".join(words)


def type_from_text(text: str) -> TypeRef:
    """`struct foo *` -> TypeRef("struct foo", 1); `u8 [16]` -> TypeRef("u8", 0, ("16",))."""
    text = " ".join(text.split())
    dims: list[str] = []
    while True:
        m = _DIMS.search(text)
        if m is None:
            break
        dims.insert(0, m.group(1).strip())
        text = text[:m.start()]
    pointer = text.count("*")
    return TypeRef(canonical(text), pointer, tuple(dims))


def decl_type(decl: Decl, owner: StructDef | None = None, parameter: bool = False) -> TypeRef:
    dims = decl.dims or ((decl.array,) if decl.array is not None else ())
    if parameter and dims:  # an array parameter is a pointer
        return TypeRef(canonical(decl.type), decl.pointer + 1, dims[1:], owner)
    return TypeRef(canonical(decl.type), decl.pointer, dims, owner)


class Layouts:
    """Layouts of types as one file sees them. `value` folds a constant expression text (array sizes,
    alignments) to an int or Unknown."""

    def __init__(self, profile: ArchProfile, arch: ArchModel, scope: Scope,
                 value: Callable[[str], int | Unknown]):
        self.profile = profile
        self.arch = arch
        self.scope = scope
        self.value = value
        self._records: dict[int, Layout | Unknown] = {}
        self._active: set[int] = set()

    # -- types -----------------------------------------------------------------------------------

    def of(self, t: TypeRef) -> Layout | Unknown:
        if t.dims:
            inner = self.of(TypeRef(t.base, t.pointer, t.dims[1:], t.owner))
            if isinstance(inner, Unknown):
                return inner
            if t.dims[0] == "":
                return Unknown("a flexible array member has no size of its own")
            count = self.value(t.dims[0])
            if isinstance(count, Unknown):
                return Unknown(f"array size [{t.dims[0]}]: {count.reason}")
            if count < 0:
                return Unknown(f"array size [{t.dims[0]}] is negative")
            return Layout(inner.size * count, inner.align)
        if t.pointer:
            return Layout(*self.profile.pointer)
        return self._base(t.base, t.owner)

    def integer(self, t: TypeRef) -> tuple[int, bool] | Unknown:
        """(bits, signed) of an integer or pointer type, for casts."""
        if t.dims:
            return Unknown("a cast to an array type")
        if t.pointer:
            return self.profile.pointer[0] * 8, False
        resolved = self.resolve(t.base, t.owner)
        if isinstance(resolved, Unknown):
            return resolved
        if resolved.pointer or resolved.dims:
            return self.integer(resolved)
        base = resolved.base
        if base.startswith("enum"):
            base = "enum"
        if base == "long" or base == "unsigned long":
            return self.profile.types["long"][0] * 8, base == "long"
        if base in _INTEGER:
            return _INTEGER[base]
        return Unknown(f"'{t.base}' is not an integer type")

    def resolve(self, base: str, owner: StructDef | None = None, depth: int = 0) -> TypeRef | Unknown:
        """Follow typedefs (the file's and its headers', then the kernel's from the model) to a C type."""
        if depth > 16:
            return Unknown(f"typedef '{base}' refers to itself")
        if base in self.profile.types or base == "void" or base.startswith(("struct ", "union ", "enum")):
            return TypeRef(base, owner=owner)
        if " " in base or not base:
            return Unknown(f"type '{base}' is not understood")
        found = self.scope.typedef(base)
        if found is not None:
            typedef, ambiguous = found
            if ambiguous:
                return Unknown(f"typedef '{base}' has more than one definition (#if branches)")
            if typedef.body is not None:
                return TypeRef(f"{typedef.body.kind} @", 0, (), typedef.body)
            inner = decl_type(typedef.decl)
            if inner.pointer or inner.dims:
                return inner
            return self.resolve(inner.base, None, depth + 1)
        alias = self.arch.type_aliases.get(base)
        if alias is not None:
            return self.resolve(canonical(alias), None, depth + 1)
        return Unknown(f"type '{base}' is not defined in this file, its includes or the model")

    def _base(self, base: str, owner: StructDef | None) -> Layout | Unknown:
        resolved = self.resolve(base, owner)
        if isinstance(resolved, Unknown):
            return resolved
        if resolved.pointer or resolved.dims:
            return self.of(resolved)
        base = resolved.base
        if base in self.profile.types:
            return Layout(*self.profile.types[base])
        if base == "void":
            return Layout(1, 1)  # GNU C: sizeof(void) is 1
        if base.startswith("enum"):
            return self._enum(base)
        kind, _, name = base.partition(" ")
        if name == "@":
            record = resolved.owner
        elif name.startswith("@"):
            index = int(name[1:]) if name[1:].isdigit() else -1
            nested = owner.nested if owner is not None else ()
            record = nested[index] if 0 <= index < len(nested) else None
        else:
            records = self.scope.structs(name, kind)
            if not records:
                return Unknown(f"{base} is not defined in this file or its includes")
            if len({_shape(r) for r in records}) > 1:
                return Unknown(f"{base} has more than one definition (#if branches)")
            record = records[0]
        if record is None:
            return Unknown(f"{base} is not understood")
        return self.record(record)

    def _enum(self, base: str) -> Layout | Unknown:
        tag = base[5:].strip()
        constants = self.scope.enum(tag) if tag else None
        if not constants:
            return Unknown(f"{base} is not defined in this file or its includes")
        for name in constants:
            v = self.value(name)
            if isinstance(v, Unknown):
                return Unknown(f"{base}: {v.reason}")
            if not -(1 << 31) <= v < (1 << 32):
                return Unknown(f"{base} has constants wider than int")
        return Layout(*self.profile.types["enum"])

    # -- records ---------------------------------------------------------------------------------

    def record(self, record: StructDef) -> Layout | Unknown:
        key = id(record)
        if key in self._records:
            return self._records[key]
        if key in self._active:
            return Unknown(f"{record.kind} {record.name} contains itself")
        self._active.add(key)
        try:
            layout = self._record(record)
        finally:
            self._active.discard(key)
        self._records[key] = layout
        return layout

    def _record(self, record: StructDef) -> Layout | Unknown:
        label = f"{record.kind} {record.name}".strip() if record.name else f"unnamed {record.kind}"
        if not record.complete:
            return Unknown(f"{label} has members kalloclint cannot lay out (#if, macros or parse errors)")
        union = record.kind == "union"
        bit = 0  # the next free bit (structs) or the largest size in bits (unions)
        align = 1
        members: list[Member] = []
        for i, decl in enumerate(record.fields):
            t = decl_type(decl, record)
            flexible = bool(t.dims) and t.dims[0] in ("", "0") and i == len(record.fields) - 1
            layout = self.of(TypeRef(t.base, t.pointer, t.dims[1:], record) if flexible else t)
            if isinstance(layout, Unknown):
                return Unknown(f"{label}, member '{decl.name or '(unnamed)'}': {layout.reason}")
            member_align = 1 if record.packed else layout.align
            if decl.aligned is not None:
                wanted = self.value(decl.aligned)
                if isinstance(wanted, Unknown):
                    return Unknown(f"{label}, member '{decl.name}': aligned({decl.aligned}): {wanted.reason}")
                member_align = wanted if decl.aligned == "1" else max(member_align, wanted)
            if decl.bits is not None:
                width = self.value(decl.bits)
                if isinstance(width, Unknown):
                    return Unknown(f"{label}, bit-field '{decl.name}': {width.reason}")
                start = self._bitfield(bit if not union else 0, width, layout, record.packed)
                if width:
                    align = max(align, member_align)
                members.append(Member(decl.name, start // 8, layout.size, t, width, start))
                bit = max(bit, width) if union else start + width
                continue
            offset = 0 if union else _align_up((bit + 7) // 8, member_align)
            size = 0 if flexible else layout.size
            members.append(Member(decl.name, offset, size, t))
            align = max(align, member_align)
            bit = max(bit, size * 8) if union else (offset + size) * 8
        if record.aligned is not None:
            wanted = self.value(record.aligned)
            if isinstance(wanted, Unknown):
                return Unknown(f"{label}: aligned({record.aligned}): {wanted.reason}")
            align = max(align, wanted)
        return Layout(_align_up((bit + 7) // 8, align), align, tuple(members), record)

    @staticmethod
    def _bitfield(bit: int, width: int, unit: Layout, packed: bool) -> int:
        """Where a bit-field of `width` bits starts: in the current unit of its type unless it would cross
        the unit's boundary (not when packed); a zero width closes the unit."""
        unit_bits = unit.size * 8
        if width == 0:
            return _align_up(bit, unit.align * 8)
        if not packed and bit // unit_bits != (bit + width - 1) // unit_bits:
            return _align_up(bit, unit_bits)
        return bit

    def member(self, record_type: TypeRef, name: str) -> tuple[Member, Layout] | Unknown:
        """A member of a struct or union type by name, looking into unnamed members; with its record."""
        layout = self.of(record_type)
        if isinstance(layout, Unknown):
            return layout
        if layout.record is None:
            return Unknown(f"'{record_type.base}' is not a struct or union")
        for m in layout.members:
            if m.name == name:
                return m, layout
            if m.name == "":
                found = self.member(m.type, name)
                if not isinstance(found, Unknown):
                    inner, record = found
                    return Member(inner.name, m.offset + inner.offset, inner.size, inner.type, inner.bits,
                                  None if inner.bit_offset is None else inner.bit_offset + m.offset * 8), record
        return Unknown(f"{record_type.base} has no member '{name}'")


def _shape(record: StructDef) -> tuple:
    """What decides a record's layout, without source positions: equal shapes lay out equally."""
    return (record.packed, record.aligned, record.complete,
            tuple((d.name, d.type, d.pointer, d.dims, d.bits, d.aligned) for d in record.fields),
            tuple(_shape(n) for n in record.nested))


def _align_up(value: int, align: int) -> int:
    return (value + align - 1) // align * align if align > 1 else value
