"""Facts for sizing: struct and union bodies as layouts, typedefs, enum values, includes and macros."""

from __future__ import annotations

import re

import tree_sitter as ts
import tree_sitter_c as tsc

from kalloclint.frontend.facts import Decl, Include, MacroEffect, StructDef, Typedef
from kalloclint.frontend.rewrite import rewrite_source

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


# A macro body is worth parsing only when it may jump, or names a noreturn function or a lock primitive.
_JUMP_WORDS = re.compile(r"\b(?:return|goto|break|continue)\b")
_WORD = re.compile(r"[A-Za-z_]\w*")
_NAMED_VARIADIC = re.compile(r"\w\s*\.\.\.")
_BODY_PARSER = ts.Parser(ts.Language(tsc.language()))
_WRAP = b"void __kalloclint_macro(void) {\n"
_LOOPS = ("do_statement", "while_statement", "for_statement")


def macro_effect(f, name_node: ts.Node) -> MacroEffect | None:
    """How a `#define NAME(a, b) body` changes control flow or locks where it is invoked as a statement
    (`RET(-ENOMEM);` with `return` in its body ends the path); None when it does neither. The body is parsed
    as the statements of a function; macros it invokes in turn are not expanded."""
    node = name_node.parent
    params_node = node.child_by_field_name("parameters")
    value = node.child_by_field_name("value")
    if params_node is None or value is None:
        return None
    body = f.text(value).replace("\\\r\n", "  ").replace("\\\n", " ")
    contexts = f.model.contexts
    words = set(_WORD.findall(body))
    if _JUMP_WORDS.search(body) is None and not (words & contexts.noreturn) and not (words & contexts.locks.keys()):
        return None
    params = [f.text(p) for p in params_node.named_children if p.type == "identifier"]
    params_text = f.text(params_node)
    if "..." in params_text and _NAMED_VARIADIC.search(params_text) is None:
        params.append("__VA_ARGS__")
    source, _ = rewrite_source(_WRAP + body.encode() + b"\n;}\n", f.model.macros)
    root = _BODY_PARSER.parse(source).root_node
    function = root.named_children[0] if root.named_children else None
    block = function.child_by_field_name("body") if function is not None else None
    if block is None or block.has_error:
        return None
    falls, exits, returned = _flow(block, source, contexts.noreturn)
    locks = () if not falls else tuple(_straight_locks(block, source, contexts.locks))
    if not exits and not locks:
        return None
    names = tuple(params)
    returns = names.index(returned) if returned in names else -1
    return MacroEffect(names, not falls, tuple(sorted(exits)), returns, locks)


def joined(arms: list[MacroEffect | None]) -> MacroEffect | None:
    """The effect of a macro defined once per `#ifdef` arm: it ends the path only if every definition
    does, and may go wherever one of them goes (`esas2r_bugon()` calls BUG() only in a tracing build);
    its locks are those every definition takes (`xip_disable()` disables interrupts only in an XIP build
    and is empty otherwise: it takes none)."""
    first = arms[0]
    if len(arms) == 1:
        return first
    known = [a for a in arms if a is not None]
    if not known:
        return None
    exits = tuple(sorted({e for a in known for e in a.exits}))
    base = first if first is not None else known[0]
    returns = base.returns if all(a.returns == base.returns for a in known if "return" in a.exits) else -1
    locks = first.locks if first is not None and len(known) == len(arms) and all(
        a.locks == first.locks for a in known) else ()
    if not exits and not locks:
        return None
    return MacroEffect(base.params, len(known) == len(arms) and all(a.ends for a in known), exits, returns, locks)


def _flow(node: ts.Node, source: bytes, noreturn: frozenset[str]) -> tuple[bool, set[str], str | None]:
    """(can fall out of the statement, where it may leave to, the text every `return` in it gives back:
    "" when they differ or none returns a value)."""
    t = node.type
    if t == "compound_statement":
        falls, exits, returned = True, set(), None
        for child in node.named_children:
            if not falls:
                break  # unreachable
            falls, more, value = _flow(child, source, noreturn)
            exits |= more
            returned = _same(returned, value)
        return falls, exits, returned
    if t == "if_statement":
        then = node.child_by_field_name("consequence")
        alt = node.child_by_field_name("alternative")
        if alt is not None and alt.type == "else_clause":
            alt = alt.named_children[-1] if alt.named_children else None
        a = _flow(then, source, noreturn) if then is not None else (True, set(), None)
        b = _flow(alt, source, noreturn) if alt is not None else (True, set(), None)
        return a[0] or b[0], a[1] | b[1], _same(a[2], b[2])
    if t in _LOOPS or t == "switch_statement":
        inner = node.child_by_field_name("body")
        falls, exits, returned = _flow(inner, source, noreturn) if inner is not None else (True, set(), None)
        local = {"break", "continue"} if t in _LOOPS else {"break"}
        # a `do { } while (0)` runs its body once; any other loop or switch may be left past its body
        falls = falls or bool(exits & local) or t != "do_statement"
        return falls, exits - local, returned
    if t == "labeled_statement":
        inner = node.named_children[-1] if node.named_children else None
        return _flow(inner, source, noreturn) if inner is not None else (True, set(), None)
    if t == "return_statement":
        value = node.named_children[0] if node.named_children else None
        return False, {"return"}, _unparen(_text(source, value)) if value is not None else ""
    if t == "goto_statement":
        label = node.child_by_field_name("label")
        return False, {f"goto {_text(source, label)}"} if label is not None else set(), None
    if t in ("break_statement", "continue_statement"):
        return False, {t.split("_")[0]}, None
    if t == "expression_statement":
        inner = node.named_children[0] if node.named_children else None
        if inner is not None and inner.type == "parenthesized_expression" and inner.named_children \
                and inner.named_children[0].type == "compound_statement":  # `({ ... })`
            return _flow(inner.named_children[0], source, noreturn)
        if inner is not None and inner.type == "call_expression":
            fn = inner.child_by_field_name("function")
            if fn is not None and _text(source, fn) in noreturn:
                return False, {"noreturn"}, None
    return True, set(), None


def _text(source: bytes, node: ts.Node) -> str:
    return source[node.start_byte:node.end_byte].decode("utf-8", "replace")


def _same(a: str | None, b: str | None) -> str | None:
    """Join two returned values: None when nothing returns, "" when they differ."""
    if a is None or b is None:
        return a if b is None else b
    return a if a == b else ""


def _unparen(text: str) -> str:
    text = text.strip()
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    return text


def _straight_locks(block: ts.Node, source: bytes, locks: dict) -> list[tuple[str, tuple[str, ...]]]:
    """The lock primitives called as statements of the body's top level (inside `do { } while (0)` or
    `({ })`), which every path falling out of the macro runs."""
    out = []
    aliases: list[tuple[re.Pattern, str]] = []  # `struct cas *xxxcp = (cp);`: the body's locals for what they hold
    stmts = list(block.named_children)
    while stmts:
        stmt = stmts.pop(0)
        inner = stmt.named_children[0] if stmt.type == "expression_statement" and stmt.named_children else None
        if stmt.type == "declaration":
            for init in (c for c in stmt.named_children if c.type == "init_declarator"):
                name, value = init.child_by_field_name("declarator"), init.child_by_field_name("value")
                while name is not None and name.type == "pointer_declarator":
                    name = name.child_by_field_name("declarator")
                if name is not None and name.type == "identifier" and value is not None:
                    aliases.insert(0, (re.compile(rf"\b{_text(source, name)}\b"), f"({_text(source, value)})"))
        elif stmt.type == "do_statement" and stmt.child_by_field_name("body") is not None:
            stmts = list(stmt.child_by_field_name("body").named_children) + stmts
        elif stmt.type == "compound_statement":
            stmts = list(stmt.named_children) + stmts
        elif inner is not None and inner.type == "parenthesized_expression" and inner.named_children \
                and inner.named_children[0].type == "compound_statement":
            stmts = list(inner.named_children[0].named_children) + stmts
        elif inner is not None and inner.type == "call_expression":
            fn, args = inner.child_by_field_name("function"), inner.child_by_field_name("arguments")
            op = locks.get(_text(source, fn)) if fn is not None else None
            if op is not None and op.op in ("acquire", "release") and args is not None:
                out.append((_text(source, fn), tuple(_substituted(_text(source, a), aliases)
                                                     for a in args.named_children if a.type != "comment")))
    return out


def _substituted(text: str, aliases: list[tuple[re.Pattern, str]]) -> str:
    for pattern, value in aliases:
        text = pattern.sub(value, text)
    return text
