"""The constant folder: allocation sizes and page orders evaluated at compile time, as C would, or Unknown.

Values carry their C integer type (width and signedness), so `~0U`, `1UL << 40` and casts behave as the
compiler computes them; arithmetic wraps (the kernel builds with -fno-strict-overflow). Names come from the
arch profile, the model's kernel macros, then the file's and its headers' #defines and enum constants.
Function-like macros are expanded by substituting their arguments' text into the body, as the
preprocessor does, and the result is parsed and folded. Whatever cannot be known stays Unknown, with why."""

from __future__ import annotations

import re
from dataclasses import dataclass

from kalloclint.analysis.layout import Layouts, TypeRef, Unknown, canonical, decl_type, type_from_text
from kalloclint.analysis.scope import Scope
from kalloclint.frontend.exprparse import ExpressionParser
from kalloclint.frontend.facts import Decl, Expr, Function
from kalloclint.model.arch import ArchModel, ArchProfile, get_order

__all__ = ["CInt", "Folder", "Unknown"]


@dataclass(frozen=True, slots=True)
class CInt:
    """An integer value with its C type."""

    value: int
    bits: int = 32
    signed: bool = True


INT = (32, True)
SIZE_T = (64, False)
_LITERAL = re.compile(r"^(0[xX][0-9a-fA-F]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)([uUlL]*)$")
_IDENT = re.compile(r"\b[A-Za-z_]\w*\b")
_MAX_DEPTH = 24
_CHAR_ESCAPES = {"n": 10, "t": 9, "r": 13, "0": 0, "\\": 92, "'": 39, '"': 34, "a": 7, "b": 8, "f": 12, "v": 11}


def wrap(value: int, bits: int, signed: bool) -> CInt:
    value &= (1 << bits) - 1
    if signed and value >> (bits - 1):
        value -= 1 << bits
    return CInt(value, bits, signed)


def literal(text: str, long_bits: int = 64) -> CInt | Unknown:
    """An integer literal with its C type (C11 6.4.4.1: the first of the listed types that holds it)."""
    text = text.strip()
    if text[:1] in "+-" and len(text) > 1:  # tree-sitter reads `-7` as one number
        v = literal(text[1:].lstrip(), long_bits)
        if isinstance(v, Unknown) or text[0] == "+":
            return v
        v = _promote(v)
        return wrap(-v.value, v.bits, v.signed)
    m = _LITERAL.match(text.replace("'", ""))
    if m is None:
        return Unknown(f"'{text}' is not an integer literal")
    digits, suffix = m.group(1), m.group(2).lower()
    if digits[:2] in ("0x", "0X"):
        value, decimal = int(digits[2:], 16), False
    elif digits[:2] in ("0b", "0B"):
        value, decimal = int(digits[2:], 2), False
    elif len(digits) > 1 and digits[0] == "0":
        value, decimal = int(digits, 8), False
    else:
        value, decimal = int(digits), True
    unsigned = "u" in suffix
    longs = suffix.count("l")
    ranks = [(32, "int"), (long_bits, "long"), (64, "long long")][min(longs, 2):]
    for bits, _ in ranks:
        for signed in ((False,) if unsigned else (True,) if decimal else (True, False)):
            if value < (1 << (bits - 1 if signed else bits)):
                return CInt(value, bits, signed)
    return Unknown(f"'{text}' does not fit any integer type")


def _promote(v: CInt) -> CInt:
    return CInt(v.value, 32, True) if v.bits < 32 else v


def _common(a: CInt, b: CInt) -> tuple[int, bool]:
    """The usual arithmetic conversions (C11 6.3.1.8) for two promoted integers."""
    if (a.bits, a.signed) == (b.bits, b.signed):
        return a.bits, a.signed
    if a.signed == b.signed:
        return max(a.bits, b.bits), a.signed
    unsigned, signed = (a, b) if not a.signed else (b, a)
    if unsigned.bits >= signed.bits:
        return unsigned.bits, False
    return signed.bits, True


def _truncating_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


class Folder:
    """Folds expressions of one file under one arch profile; remembers names it has folded."""

    def __init__(self, profile: ArchProfile, arch: ArchModel, scope: Scope, parser: ExpressionParser,
                 globals_: dict[str, Decl] | None = None):
        self.profile = profile
        self.arch = arch
        self.scope = scope
        self.parser = parser
        self.globals = globals_ or {}
        self.layouts = Layouts(profile, arch, scope, self._layout_value)
        self.function: Function | None = None
        self._profile_macros = profile.macros()
        self._names: dict[str, CInt | Unknown] = {}
        self._active: set[str] = set()

    # -- entry points ----------------------------------------------------------------------------

    def fold(self, expr: Expr, function: Function | None = None) -> CInt | Unknown:
        saved, self.function = self.function, function
        try:
            return self._fold(expr, 0)
        except RecursionError:
            return Unknown("the expression nests too deeply")
        finally:
            self.function = saved

    def size(self, expr: Expr, function: Function | None = None) -> int | Unknown:
        """The expression as a size_t argument."""
        v = self.fold(expr, function)
        return v if isinstance(v, Unknown) else wrap(v.value, *SIZE_T).value

    def fold_text(self, text: str, function: Function | None = None) -> CInt | Unknown:
        expr = self.parser.parse(text)
        if expr is None:
            return Unknown(f"'{text.strip()}' is not an expression kalloclint can parse")
        return self.fold(expr, function)

    def type_of(self, expr: Expr, function: Function | None = None) -> TypeRef | Unknown:
        saved, self.function = self.function, function
        try:
            return self._type_of(expr, 0)
        finally:
            self.function = saved

    def _layout_value(self, text: str) -> int | Unknown:
        v = self._text(text, 0)
        return v if isinstance(v, Unknown) else v.value

    def _text(self, text: str, depth: int) -> CInt | Unknown:
        expr = self.parser.parse(text)
        if expr is None:
            return Unknown(f"'{' '.join(text.split())[:60]}' is not an expression kalloclint can parse")
        return self._fold(expr, depth + 1)

    # -- expressions -----------------------------------------------------------------------------

    def _fold(self, e: Expr, depth: int) -> CInt | Unknown:
        if depth > _MAX_DEPTH:
            return Unknown("macros nest too deeply")
        e = e.strip()
        kind = e.kind
        if kind == "number":
            if e.text in ("true", "false"):
                return CInt(int(e.text == "true"))
            return literal(e.text, self.profile.types["long"][0] * 8)
        if kind == "char":
            return _char(e.text)
        if kind == "ident":
            return self._name(e.text, depth)
        if kind == "unary" and e.children:
            return self._unary(e.op, e.children[0], depth)
        if kind == "binary" and len(e.children) == 2:
            return self._binary(e.op, e.children[0], e.children[1], depth)
        if kind == "conditional" and len(e.children) == 3:
            cond = self._fold(e.children[0], depth)
            if isinstance(cond, Unknown):
                return cond
            return self._fold(e.children[1] if cond.value else e.children[2], depth)
        if kind == "cast" and len(e.children) == 2:
            return self._cast(type_from_text(e.children[0].text), e.children[1], depth)
        if kind == "sizeof" and e.children:
            return self._sizeof(e.children[0], depth)
        if kind == "call":
            return self._call(e, depth)
        if kind == "other":
            return self._builtin_text(e.text, depth)
        return Unknown(f"'{_short(e.text)}' is not a compile-time constant")

    def _name(self, name: str, depth: int) -> CInt | Unknown:
        if self.function is not None and self.function.decl(name) is not None and not self._is_macro(name):
            return Unknown(f"'{name}' is a variable")
        if name in self._names:
            return self._names[name]
        if name in self._active:
            return Unknown(f"'{name}' is defined in terms of itself")
        self._active.add(name)
        try:
            value = self._resolve_name(name, depth)
        finally:
            self._active.discard(name)
        self._names[name] = value
        return value

    def _is_macro(self, name: str) -> bool:
        return name in self._profile_macros or name in self.arch.macros or self.scope.define(name) is not None

    def _resolve_name(self, name: str, depth: int) -> CInt | Unknown:
        body = self._profile_macros.get(name) or self.arch.macros.get(name)
        if body is not None:
            return self._text(body, depth)
        define = self.scope.define(name)
        if define is not None:
            text, ambiguous = define
            if ambiguous:
                return Unknown(f"'{name}' has more than one definition (#if branches)")
            if not text:
                return Unknown(f"'{name}' is defined empty")
            return self._within(name, self._text(text, depth))
        if name in self.globals:
            return Unknown(f"'{name}' is a variable")
        enum = self.scope.enum_value(name)
        if enum is not None:
            text, ambiguous = enum
            if ambiguous:
                return Unknown(f"enum constant '{name}' has more than one value (#if branches)")
            value = self._text(text, depth)
            return value if isinstance(value, Unknown) else wrap(value.value, *INT)
        return Unknown(f"'{name}' is not a constant defined in this file, its includes or the model")

    @staticmethod
    def _within(name: str, value: CInt | Unknown) -> CInt | Unknown:
        if isinstance(value, Unknown) and not value.reason.startswith(f"{name}:"):
            return Unknown(f"{name}: {value.reason}")
        return value

    def _unary(self, op: str, operand: Expr, depth: int) -> CInt | Unknown:
        if op not in ("-", "+", "~", "!"):
            return Unknown(f"'{op}' is not a constant operation")
        v = self._fold(operand, depth)
        if isinstance(v, Unknown):
            return v
        if op == "!":
            return CInt(int(v.value == 0))
        v = _promote(v)
        if op == "-":
            return wrap(-v.value, v.bits, v.signed)
        if op == "~":
            return wrap(~v.value, v.bits, v.signed)
        return v

    def _binary(self, op: str, left: Expr, right: Expr, depth: int) -> CInt | Unknown:
        a = self._fold(left, depth)
        if isinstance(a, Unknown):
            return a
        if op in ("&&", "||"):
            if (op == "&&") != bool(a.value):
                return CInt(int(bool(a.value)))
            b = self._fold(right, depth)
            return b if isinstance(b, Unknown) else CInt(int(bool(b.value)))
        b = self._fold(right, depth)
        if isinstance(b, Unknown):
            return b
        a, b = _promote(a), _promote(b)
        if op in ("<<", ">>"):
            if b.value < 0 or b.value >= a.bits:
                return Unknown(f"shift by {b.value} of a {a.bits}-bit value")
            return wrap(a.value << b.value if op == "<<" else a.value >> b.value, a.bits, a.signed)
        bits, signed = _common(a, b)
        x, y = wrap(a.value, bits, signed).value, wrap(b.value, bits, signed).value
        if op in ("<", ">", "<=", ">=", "==", "!="):
            return CInt(int({"<": x < y, ">": x > y, "<=": x <= y, ">=": x >= y, "==": x == y, "!=": x != y}[op]))
        if op in ("/", "%"):
            if y == 0:
                return Unknown("division by zero")
            q = _truncating_div(x, y)
            return wrap(q if op == "/" else x - q * y, bits, signed)
        ops = {"+": lambda: x + y, "-": lambda: x - y, "*": lambda: x * y, "&": lambda: x & y,
               "|": lambda: x | y, "^": lambda: x ^ y}
        if op not in ops:
            return Unknown(f"'{op}' is not a constant operation")
        return wrap(ops[op](), bits, signed)

    def _cast(self, t: TypeRef, operand: Expr, depth: int) -> CInt | Unknown:
        kind = self.layouts.integer(t)
        if isinstance(kind, Unknown):
            return kind
        v = self._fold(operand, depth)
        if isinstance(v, Unknown):
            return v
        if t.base == "_Bool" and not t.pointer:
            return CInt(int(v.value != 0), 8, False)
        return wrap(v.value, *kind)

    # -- sizeof and types ------------------------------------------------------------------------

    def _sizeof(self, operand: Expr, depth: int) -> CInt | Unknown:
        t = self._type_of(operand, depth)
        if isinstance(t, Unknown):
            return t
        layout = self.layouts.of(t)
        if isinstance(layout, Unknown):
            return layout
        return CInt(layout.size, *SIZE_T)

    def _type_of(self, e: Expr, depth: int) -> TypeRef | Unknown:
        e = e.strip()
        if e.kind == "type":
            t = type_from_text(e.text)
            if not t.pointer and not t.dims and " " not in t.base:
                variable = self._variable(t.base)  # `sizeof(x)` may parse as a type name
                if variable is not None:
                    return variable
            return t
        if e.kind == "ident":
            variable = self._variable(e.text)
            if variable is not None:
                return variable
            if self._is_macro(e.text):
                return Unknown(f"sizeof of macro '{e.text}'")
            resolved = self.layouts.resolve(canonical(e.text))
            return resolved if isinstance(resolved, Unknown) else TypeRef(canonical(e.text))
        if e.kind == "subscript" and self._names_a_type(e):
            return type_from_text(e.text)  # `sizeof(u8[4][2])` parses as subscripts of `u8`
        if (e.kind == "unary" and e.op == "*" or e.kind == "subscript") and e.children:
            inner = self._type_of(e.children[0], depth)
            if isinstance(inner, Unknown):
                return inner
            element = inner.element() if inner.pointer or inner.dims else self._typedef_element(inner)
            return element if element is not None else Unknown(f"'{_short(e.text)}' dereferences a non-pointer")
        if e.kind == "field" and e.children:
            owner = self._type_of(e.children[0], depth)
            if isinstance(owner, Unknown):
                return owner
            arrow = e.op.startswith("->")
            if arrow:
                owner = owner.element() if owner.pointer or owner.dims else self._typedef_element(owner)
                if owner is None:
                    return Unknown(f"'{_short(e.text)}': '->' on a non-pointer")
            found = self.layouts.member(owner, e.op[2:] if arrow else e.op[1:])
            return found if isinstance(found, Unknown) else found[0].type
        if e.kind == "cast" and len(e.children) == 2:
            return type_from_text(e.children[0].text)
        if e.kind in ("number", "char"):
            v = self._fold(e, depth)
            if isinstance(v, Unknown):
                return v
            return TypeRef({32: "int", 64: "long"}.get(v.bits, "int") if v.signed else
                           {32: "unsigned int", 64: "unsigned long"}.get(v.bits, "unsigned int"))
        return Unknown(f"the type of '{_short(e.text)}' is not known")

    def _names_a_type(self, e: Expr) -> bool:
        root = e
        while root.kind == "subscript" and root.children:
            root = root.children[0].strip()
        return root.kind in ("ident", "type") and self._variable(root.text) is None \
            and not isinstance(self.layouts.resolve(canonical(root.text)), Unknown)

    def _typedef_element(self, t: TypeRef) -> TypeRef | None:
        resolved = self.layouts.resolve(t.base, t.owner)
        if isinstance(resolved, Unknown) or not (resolved.pointer or resolved.dims):
            return None
        return resolved.element()

    def _variable(self, name: str) -> TypeRef | None:
        fn = self.function
        if fn is not None:
            for decl in reversed(fn.locals):
                if decl.name == name:
                    return decl_type(decl)
            for decl in fn.params:
                if decl.name == name:
                    return decl_type(decl, parameter=True)
        decl = self.globals.get(name)
        return decl_type(decl) if decl is not None else None

    # -- calls: builtins, the model's kernel macros, the file's function-like macros -----------------

    def _call(self, e: Expr, depth: int) -> CInt | Unknown:
        name = e.op.strip()
        args = e.children
        if name.startswith("(") and name.endswith(")") and len(args) == 1:
            return self._cast(type_from_text(name[1:-1]), args[0], depth)  # `(u32)(x)` parses as a call
        builtin = _BUILTINS.get(name)
        if builtin is not None:
            return builtin(self, args, depth)
        macro = self.arch.functions.get(name)
        if macro is not None:
            return self._expand(name, macro.params, macro.body, args, depth)
        defined = self.scope.function_define(name)
        if defined is not None:
            return self._within(name, self._expand(name, defined[0], defined[1], args, depth))
        return Unknown(f"'{name}()' is not a macro kalloclint can evaluate")

    def _expand(self, name: str, params: tuple[str, ...], body: str, args: tuple[Expr, ...],
                depth: int) -> CInt | Unknown:
        if len(params) != len(args):
            return Unknown(f"{name}() takes {len(params)} arguments, not {len(args)}")
        if "#" in body:
            return Unknown(f"{name}() pastes or stringifies tokens")
        mapping = dict(zip(params, (a.text for a in args)))
        text = _IDENT.sub(lambda m: mapping.get(m.group(), m.group()), body)
        return self._text(text, depth)

    def _builtin_text(self, text: str, depth: int) -> CInt | Unknown:
        """offsetof() and alignof parse as their own node kinds; they are read from their text."""
        m = re.match(r"^(offsetof|__builtin_offsetof|__alignof__|_Alignof|alignof)\s*\((.*)\)$", text.strip(), re.S)
        if m is None:
            return Unknown(f"'{_short(text)}' is not a compile-time constant")
        parts = _split_args(m.group(2))
        if m.group(1).endswith("offsetof"):
            if len(parts) != 2:
                return Unknown("offsetof() takes a type and a member")
            return self._offset(parts[0], parts[1])
        t = type_from_text(m.group(2))
        layout = self.layouts.of(t)
        return layout if isinstance(layout, Unknown) else CInt(layout.align, *SIZE_T)

    def _offset(self, type_text: str, path: str, want_size: bool = False) -> CInt | Unknown:
        """offsetof(T, a.b[2]) or, with want_size, sizeof_field(T, a.b[2])."""
        t: TypeRef | Unknown = type_from_text(type_text)
        offset = 0
        for step in re.findall(r"\.?\s*([A-Za-z_]\w*)|\[([^\]]*)\]", path):
            if isinstance(t, Unknown):
                return t
            member, index = step
            if member:
                found = self.layouts.member(t, member)
                if isinstance(found, Unknown):
                    return found
                offset += found[0].offset
                t = found[0].type
            else:
                element = t.element()
                if element is None:
                    return Unknown(f"'{path}' indexes a non-array")
                i = self._text(index, 0)
                size = self.layouts.of(element)
                if isinstance(i, Unknown) or isinstance(size, Unknown):
                    return i if isinstance(i, Unknown) else size
                offset += i.value * size.size
                t = element
        if isinstance(t, Unknown):
            return t
        if want_size:
            layout = self.layouts.of(t)
            return layout if isinstance(layout, Unknown) else CInt(layout.size, *SIZE_T)
        return CInt(offset, *SIZE_T)


def _split_args(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, c in enumerate(text):
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(c, 0)
        if c == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts


def _char(text: str) -> CInt | Unknown:
    body = text[1:-1] if len(text) >= 3 and text[0] == "'" and text[-1] == "'" else ""
    if len(body) == 1:
        return CInt(ord(body))
    if body.startswith("\\") and body[1:] in _CHAR_ESCAPES:
        return CInt(_CHAR_ESCAPES[body[1:]])
    if body.startswith("\\x") and len(body) > 2:
        try:
            return CInt(int(body[2:], 16))
        except ValueError:
            pass
    return Unknown(f"character {text} is not understood")


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "..."


def _one(folder: Folder, args, depth) -> CInt | Unknown:
    if len(args) != 1:
        return Unknown("expected one argument")
    return folder._fold(args[0], depth)


def _get_order(folder: Folder, args, depth) -> CInt | Unknown:
    v = _one(folder, args, depth)
    if isinstance(v, Unknown):
        return v
    return CInt(get_order(wrap(v.value, *SIZE_T).value, folder.profile.page_shift))


def _ilog2(folder: Folder, args, depth) -> CInt | Unknown:
    v = _one(folder, args, depth)
    if isinstance(v, Unknown) or v.value <= 0:
        return v if isinstance(v, Unknown) else Unknown("ilog2() of a value below 1")
    return CInt(v.value.bit_length() - 1)


def _pow2(up: bool):
    def fold(folder: Folder, args, depth) -> CInt | Unknown:
        v = _one(folder, args, depth)
        if isinstance(v, Unknown) or v.value <= 0:
            return v if isinstance(v, Unknown) else Unknown("a power of two of a value below 1")
        n = v.value
        return CInt(1 << ((n - 1).bit_length() if up else n.bit_length() - 1), *SIZE_T)
    return fold


def _order_base_2(folder: Folder, args, depth) -> CInt | Unknown:
    v = _one(folder, args, depth)
    if isinstance(v, Unknown):
        return v
    return CInt((v.value - 1).bit_length() if v.value > 1 else 0)


def _to(bits_signed: tuple[int, bool]):
    def fold(folder: Folder, args, depth) -> CInt | Unknown:
        v = _one(folder, args, depth)
        return v if isinstance(v, Unknown) else wrap(v.value, *bits_signed)
    return fold


def _ac(folder: Folder, args, depth) -> CInt | Unknown:
    if len(args) != 2:
        return Unknown("_AC() takes two arguments")
    return literal(args[0].text.strip() + args[1].text.strip())


def _sizeof_field(folder: Folder, args, depth) -> CInt | Unknown:
    if len(args) != 2:
        return Unknown("sizeof_field() takes a type and a member")
    return folder._offset(args[0].text, args[1].text, want_size=True)


def _offsetof(folder: Folder, args, depth) -> CInt | Unknown:
    if len(args) != 2:
        return Unknown("offsetof() takes a type and a member")
    return folder._offset(args[0].text, args[1].text)


_BUILTINS = {
    "get_order": _get_order, "ilog2": _ilog2, "order_base_2": _order_base_2,
    "roundup_pow_of_two": _pow2(True), "rounddown_pow_of_two": _pow2(False),
    "UL": _to((64, False)), "_UL": _to((64, False)), "ULL": _to((64, False)), "_ULL": _to((64, False)),
    "_AC": _ac, "sizeof_field": _sizeof_field, "FIELD_SIZEOF": _sizeof_field, "offsetof": _offsetof,
}
