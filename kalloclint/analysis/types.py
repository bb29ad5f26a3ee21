"""The declared type of an expression, from local, parameter, global and struct-field declarations."""

from __future__ import annotations

from dataclasses import dataclass

from kalloclint.frontend.facts import Decl, Expr, Function, StructDef

BYTE_TYPES = frozenset({"void", "char", "unsigned char", "signed char", "u8", "s8", "__u8", "__s8", "uint8_t",
                        "int8_t"})


@dataclass(frozen=True, slots=True)
class CType:
    """A base type spelling and its pointer depth: `struct foo *` is CType("struct foo", 1)."""

    base: str
    pointer: int
    array: bool = False  # the outermost level is an array: sizeof() of it is the whole array

    def pointee(self) -> CType | None:
        return CType(self.base, self.pointer - 1) if self.pointer > 0 else None

    @property
    def struct_name(self) -> str | None:
        for prefix in ("struct ", "union "):
            if self.base.startswith(prefix):
                return self.base[len(prefix):].strip()
        return None


def decl_type(decl: Decl) -> CType:
    """An array declarator counts as one more level of pointer: `u32 v[4]` is used like `u32 *`."""
    if decl.array is not None:
        return CType(decl.type, decl.pointer + 1, array=True)
    return CType(decl.type, decl.pointer)


def type_of(expr: Expr, function: Function | None, globals_: dict[str, Decl], struct) -> CType | None:
    """The type of an identifier, field access, dereference or subscript, when the declarations say.
    `struct` looks a struct definition up by name."""
    e = expr.strip()
    if e.kind == "ident":
        decl = (function.decl(e.text) if function is not None else None) or globals_.get(e.text)
        return decl_type(decl) if decl is not None else None
    if e.kind == "field" and e.children:
        owner = type_of(e.children[0], function, globals_, struct)
        if owner is None:
            return None
        if e.op.startswith("->"):
            owner = owner.pointee()
            member = e.op[2:]
        else:
            member = e.op[1:]
        if owner is None or owner.pointer != 0 or owner.struct_name is None:
            return None
        definition: StructDef | None = struct(owner.struct_name)
        decl = definition.field(member) if definition is not None else None
        return decl_type(decl) if decl is not None else None
    if (e.kind == "unary" and e.op == "*" or e.kind == "subscript") and e.children:
        inner = type_of(e.children[0], function, globals_, struct)
        return inner.pointee() if inner is not None else None
    return None
