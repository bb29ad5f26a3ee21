"""Facts for sizing: struct and union bodies as layouts, typedefs, enum values, includes and macros."""

from __future__ import annotations

import re

import tree_sitter as ts

from kalloclint.frontend.facts import Decl, Include, StructDef, Typedef

_ALIGNED = re.compile(r"\b(?:__)?aligned(?:__)?\s*\(")
# Alignment attributes whose value depends on the kernel configuration: the layout stays unknown.
_CONFIG_ALIGNED = ("cacheline_aligned", "__aligned_largest", "____cacheline")
_RECORDS = ("struct_specifier", "union_specifier")


def record(f, node: ts.Node) -> StructDef:
    """A struct or union definition with every member the layout needs; `f` is the extractor's _File."""
    name_node = node.child_by_field_name("name")
    body = node.child_by_field_name("body")
    kind = "union" if node.type == "union_specifier" else "struct"
    fields: list[Decl] = []
    nested: list[StructDef] = []
    # a conditional reduced to one arm before parsing (frontend/conditionals.py) hides the other arms' members
    complete = body is not None and not body.has_error and not f.reduced_within(body.start_byte, body.end_byte)
    for member in body.named_children if body is not None else ():
        if member.type == "comment":
            continue
        if member.type != "field_declaration":
            complete = False  # #if blocks, stray macros: which members exist depends on the build
            continue
        decls, understood = _members(f, member, nested)
        fields.extend(decls)
        complete = complete and understood
    text = f.text(node)
    attrs = _attributes(f, node, trailing=16)
    packed = any(r.original == "__packed" and node.start_byte <= r.start < node.end_byte + 16
                 for r in f.rewrites) or "packed" in text[-64:]
    aligned, known = _alignment(attrs)
    return StructDef(f.text(name_node) if name_node is not None else "", kind, tuple(fields), f.span(node),
                     packed, tuple(nested), complete and known, aligned)


def _members(f, member: ts.Node, nested: list[StructDef]) -> tuple[list[Decl], bool]:
    """The Decls of one field declaration, and whether it was fully understood."""
    type_node = member.child_by_field_name("type")
    if type_node is None or type_node.type == "macro_type_specifier":
        return [], False
    base: str | None = None
    if type_node.type in _RECORDS and type_node.child_by_field_name("body") is not None:
        inner = record(f, type_node)
        name_node = type_node.child_by_field_name("name")
        if name_node is not None:
            base = f"{inner.kind} {f.text(name_node)}"
        else:
            base = f"{inner.kind} @{len(nested)}"
        nested.append(inner)
    elif type_node.type == "enum_specifier":
        name_node = type_node.child_by_field_name("name")
        base = f"enum {f.text(name_node)}" if name_node is not None else "enum"
    declarators = member.children_by_field_name("declarator")
    if not declarators:
        if base is not None and "@" in base:  # an unnamed struct or union: its members belong to the parent
            return [Decl("", base, 0, None, f.span(member))], True
        return [], False
    widths = [c for c in member.children if c.type == "bitfield_clause"]
    attrs = _attributes(f, member)
    aligned, known = _alignment(attrs)
    if aligned is None and "packed" in attrs:
        aligned = "1"  # a packed member drops its natural alignment
    out = []
    for i, child in enumerate(declarators):
        decl = f.declarator(child, base if base is not None else _type(f, type_node))
        if decl is None:
            return out, False
        bits = None
        if len(widths) == len(declarators):
            bits = f.text(widths[i])[1:].strip()
        out.append(Decl(decl.name, decl.type, decl.pointer, decl.array, decl.span, decl.dims, bits, aligned))
    return out, known


def _type(f, type_node: ts.Node) -> str:
    from kalloclint.frontend.extract import type_text  # a cycle at import time otherwise
    return type_text(f.text(type_node))


def _attributes(f, node: ts.Node, trailing: int = 0) -> str:
    """Attribute text written on a declaration: `__attribute__((...))` nodes and blanked kernel macros
    (for a struct, also just after its closing brace: `} __packed;`)."""
    parts = [f.text(c) for c in node.children if c.type in ("attribute_specifier", "attribute_declaration")]
    end = node.end_byte + trailing
    parts += [r.original for r in f.rewrites if node.start_byte <= r.start < end and r.kind == "blank"
              and not _inside_record_body(node, r.start)]
    return " ".join(parts)


def _inside_record_body(node: ts.Node, offset: int) -> bool:
    """Rewrites inside a nested body belong to the nested members, not to this declaration."""
    for child in node.named_children:
        if child.type in _RECORDS or child.type == "field_declaration_list":
            body = child if child.type == "field_declaration_list" else child.child_by_field_name("body")
            if body is not None and body.start_byte <= offset < body.end_byte:
                return True
    return False


def _alignment(attrs: str) -> tuple[str | None, bool]:
    """The alignment asked for by attributes, and False when it depends on the configuration."""
    if any(word in attrs for word in _CONFIG_ALIGNED):
        return None, False
    m = _ALIGNED.search(attrs)
    if m is None:
        return (None, False) if re.search(r"\baligned\b", attrs) else (None, True)  # bare: the largest
    depth, start = 0, m.end() - 1
    for i in range(start, len(attrs)):
        depth += {"(": 1, ")": -1}.get(attrs[i], 0)
        if depth == 0:
            value = attrs[start + 1:i].strip()
            return (value, True) if value else (None, False)
    return None, False


def typedef(f, node: ts.Node) -> list[tuple[str, Typedef]]:
    """The names a `typedef` declares, each with its type."""
    type_node = node.child_by_field_name("type")
    if type_node is None:
        return []
    body = None
    if type_node.type in _RECORDS and type_node.child_by_field_name("body") is not None:
        body = record(f, type_node)
        base = f"{body.kind} {body.name}" if body.name else f"{body.kind} @"
        if body.name:
            body = None  # a named definition is a struct of the file already
    elif type_node.type == "enum_specifier":
        name_node = type_node.child_by_field_name("name")
        base = f"enum {f.text(name_node)}" if name_node is not None else "enum"
    else:
        base = _type(f, type_node)
    out = []
    for child in node.children_by_field_name("declarator"):
        decl = f.declarator(child, base)
        if decl is not None:
            out.append((decl.name, Typedef(decl, body)))
    return out


def enum_values(f, enumerator: ts.Node) -> tuple[str, str]:
    """An enum constant and its value as text; an implicit value is one more than the previous constant."""
    name = f.text(enumerator.child_by_field_name("name"))
    value = enumerator.child_by_field_name("value")
    if value is not None:
        return name, f.text(value)
    previous = enumerator.prev_named_sibling
    while previous is not None and previous.type != "enumerator":
        previous = previous.prev_named_sibling
    if previous is None:
        return name, "0"
    return name, f"({f.text(previous.child_by_field_name('name'))}) + 1"


def enum_tag(f, enumerator: ts.Node) -> str | None:
    """The tag of the enum an enumerator belongs to (`enum tag { ... }`), or None when unnamed."""
    body = enumerator.parent
    spec = body.parent if body is not None else None
    name = spec.child_by_field_name("name") if spec is not None else None
    return f.text(name) if name is not None else None


def include(f, path_node: ts.Node) -> Include | None:
    text = f.text(path_node).strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return Include(text[1:-1], True)
    if len(text) >= 2 and text[0] == "<" and text[-1] == ">":
        return Include(text[1:-1], False)
    return None


def function_define(f, name_node: ts.Node) -> tuple[str, tuple[tuple[str, ...], str]] | None:
    """`#define NAME(a, b) body` as (NAME, ((a, b), body)); variadic macros are left out."""
    node = name_node.parent
    params = node.child_by_field_name("parameters")
    value = node.child_by_field_name("value")
    if params is None:
        return None
    names = tuple(f.text(p) for p in params.named_children)
    if any(p == "..." or not p.isidentifier() for p in names) or "..." in f.text(params):
        return None
    return f.text(name_node), (names, f.text(value).strip() if value is not None else "")
