"""Parse one file with tree-sitter and extract its facts; no tree-sitter object leaves this module."""

from __future__ import annotations

import dataclasses
import re
from bisect import bisect_left, bisect_right

import tree_sitter as ts
import tree_sitter_c as tsc

from kalloclint.frontend.facts import (CONSTANT_NAME, Assign, Call, Decl, Deref, Expr, FieldBinding, FileFacts,
                                       Function, Rewrite, Stmt, Store, StructDef, Suppression, norm)
from kalloclint.frontend.rewrite import closing_paren, top_level_args, rewrite_source
from kalloclint.frontend import records
from kalloclint.model import Model
from kalloclint.source import LineIndex, SourceFile, Span

LANGUAGE = ts.Language(tsc.language())
_DECLARATIONS = """
(struct_specifier name: (type_identifier) body: (field_declaration_list)) @struct
(union_specifier name: (type_identifier) body: (field_declaration_list)) @struct
(enumerator name: (identifier) @enumerator)
(preproc_def name: (identifier) @define)
(preproc_function_def name: (identifier) @fdefine)
(preproc_include path: (_) @include)
(type_definition) @typedef
(ERROR) @error
"""
# A header read only for the names it declares (sizes, macros, typedefs) needs none of the code patterns.
_DECLARATION_QUERY = ts.Query(LANGUAGE, _DECLARATIONS)
_QUERY = ts.Query(LANGUAGE, _DECLARATIONS + """
(function_definition) @function
(call_expression) @call
(translation_unit (declaration) @global)
(initializer_pair designator: (field_designator (field_identifier) @designator) value: (_) @value) @pair
(assignment_expression left: (field_expression field: (field_identifier)) right: (identifier) @handler)
(assignment_expression left: (identifier) @lhs right: (_))
(assignment_expression) @store
(init_declarator value: (_)) @store
(update_expression) @store
(field_expression argument: (_) @deref operator: "->")
(pointer_expression operator: "*" argument: (_) @deref)
(subscript_expression argument: (_) @deref)
""")
_FILE_CALL = re.compile(rb"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_SUPPRESSION = re.compile(rb"kalloclint:\s*(ignore-file|ignore)\[([^\]\n]*)\]")
_MAX_EXPR_NODES = 300

_EXPR_KINDS = {
    "identifier": "ident", "number_literal": "number", "string_literal": "string",
    "concatenated_string": "string", "char_literal": "char", "call_expression": "call",
    "binary_expression": "binary", "unary_expression": "unary", "pointer_expression": "unary",
    "sizeof_expression": "sizeof", "cast_expression": "cast", "parenthesized_expression": "paren",
    "field_expression": "field", "subscript_expression": "subscript",
    "conditional_expression": "conditional", "comma_expression": "comma", "type_descriptor": "type",
    "assignment_expression": "assign", "true": "number", "false": "number", "null": "ident",
}
_STMT_KINDS = {
    "compound_statement": "block", "if_statement": "if", "while_statement": "while",
    "do_statement": "do", "for_statement": "for", "switch_statement": "switch",
    "case_statement": "case", "labeled_statement": "label", "goto_statement": "goto",
    "return_statement": "return", "break_statement": "break", "continue_statement": "continue",
    "expression_statement": "expr", "declaration": "decl",
}
_LEAF_KINDS = frozenset({"ident", "number", "string", "char"})
_LEAF_STMTS = frozenset({"expr", "break", "continue"})
_new_span = tuple.__new__  # Span(a, b) without the NamedTuple constructor's Python frame
_F_FUNCTION, _F_ARGUMENTS, _F_OPERATOR, _F_FIELD, _F_ARGUMENT, _F_TYPE, _F_VALUE = (
    LANGUAGE.field_id_for_name(n) for n in ("function", "arguments", "operator", "field", "argument", "type", "value"))
_PREPROC_BLOCKS = {"preproc_if", "preproc_ifdef", "preproc_else", "preproc_elif", "preproc_elifdef"}


class _File:
    """Per-file extraction state: the original bytes for texts, the line index for spans."""

    def __init__(self, original: bytes, index: LineIndex, model: Model, rewrites: tuple[Rewrite, ...]):
        self.original = original
        self.index = index
        self.model = model
        self.rewrites = rewrites
        self.loop_macros = {r.start: r.original.split("(", 1)[0] for r in rewrites if r.kind in ("loop", "guard")}
        self.reduced = [r.start for r in rewrites if r.kind == "preproc"]
        self.assigns: list[Assign] = []

    def reduced_within(self, start: int, end: int) -> bool:
        """Whether a conditional between these offsets was reduced to one of its arms before parsing."""
        i = bisect_left(self.reduced, start)
        return i < len(self.reduced) and self.reduced[i] < end

    def text(self, node: ts.Node) -> str:
        start, end = node.byte_range
        return self.original[start:end].decode("utf-8", "replace")

    @staticmethod
    def span(node: ts.Node) -> Span:
        return _new_span(Span, node.byte_range)

    # -- expressions -------------------------------------------------------------------------

    def expr(self, node: ts.Node, budget: list[int] | None = None) -> Expr:
        # The hottest function of the front end (every condition, argument and store): node attributes are
        # read once and spans built without NamedTuple's Python-level constructor.
        if budget is None:
            budget = [_MAX_EXPR_NODES]
        budget[0] -= 1
        start, end = node.byte_range
        text = self.original[start:end].decode("utf-8", "replace")
        span = _new_span(Span, (start, end))
        if budget[0] <= 0:
            return Expr("opaque", text, span)
        kind = _EXPR_KINDS.get(node.type, "other")
        if kind in _LEAF_KINDS:
            return Expr(kind, text, span)
        if kind == "type":
            return Expr("type", " ".join(text.split()), span)
        op = ""
        children: list[ts.Node]
        if kind == "call":
            fn = node.child_by_field_id(_F_FUNCTION)
            op = self.text(fn) if fn is not None else ""
            args = node.child_by_field_id(_F_ARGUMENTS)
            children = _named(args) if args is not None else []
        elif kind in ("binary", "unary", "assign"):
            operator = node.child_by_field_id(_F_OPERATOR)
            op = operator.type if operator is not None else ""
            children = _named(node)
        elif kind == "field":
            operator = node.child_by_field_id(_F_OPERATOR)
            member = node.child_by_field_id(_F_FIELD)
            op = (operator.type if operator is not None else "->") + (self.text(member) if member else "")
            arg = node.child_by_field_id(_F_ARGUMENT)
            children = [arg] if arg is not None else []
        elif kind == "sizeof":
            inner = node.child_by_field_id(_F_TYPE) or node.child_by_field_id(_F_VALUE)
            children = [inner] if inner is not None else []
        elif kind == "cast":
            children = [c for c in (node.child_by_field_id(_F_TYPE), node.child_by_field_id(_F_VALUE)) if c]
        else:
            children = _named(node)
        return Expr(kind, text, span, op, tuple([self.expr(c, budget) for c in children]))

    def shallow(self, node: ts.Node) -> Expr:
        return Expr("opaque", self.text(node), self.span(node))

    # -- declarations ------------------------------------------------------------------------

    def decls(self, node: ts.Node) -> list[Decl]:
        """The names a declaration, parameter or field declaration introduces."""
        type_node = node.child_by_field_name("type")
        base = type_text(self.text(type_node)) if type_node is not None else ""
        out = []
        for child in node.children_by_field_name("declarator"):
            decl = self.declarator(child, base)
            if decl is not None:
                out.append(decl)
        return out

    def declarator(self, node: ts.Node, base: str) -> Decl | None:
        pointer, array, dims = 0, None, []
        while True:
            t = node.type
            if t in ("identifier", "field_identifier", "type_identifier"):
                return Decl(self.text(node), base, pointer, array, self.span(node), tuple(reversed(dims)))
            if t == "init_declarator" or t == "parenthesized_declarator":
                inner = node.child_by_field_name("declarator") or (node.named_children[0] if node.named_children else None)
            elif t == "pointer_declarator":
                pointer += 1
                inner = node.child_by_field_name("declarator")
            elif t == "array_declarator":
                size = node.child_by_field_name("size")
                if array is None:
                    array = self.text(size) if size is not None else ""
                dims.append(self.text(size) if size is not None else "")
                inner = node.child_by_field_name("declarator")
            elif t == "function_declarator":
                pointer += 1  # a function pointer: a pointer as far as sizes go
                inner = node.child_by_field_name("declarator")
            else:
                return None
            if inner is None:
                return None
            node = inner

    def gfp_inits(self, node: ts.Node) -> None:
        """Record `gfp_t gfp = GFP_KERNEL;`-style initialisers: values that name GFP flags."""
        for child in node.children_by_field_name("declarator"):
            if child.type != "init_declarator":
                continue
            value = child.child_by_field_name("value")
            name = child.child_by_field_name("declarator")
            if value is not None and name is not None and name.type == "identifier" \
                    and b"GFP" in self.original[value.start_byte:value.end_byte]:
                self.assigns.append(Assign(self.text(name), self.expr(value), self.span(child)))

    def struct(self, node: ts.Node) -> StructDef:
        return records.record(self, node)

    # -- statements --------------------------------------------------------------------------

    def stmt(self, node: ts.Node, locals_: list[Decl]) -> Stmt:
        t = node.type
        kind = _STMT_KINDS.get(t)
        span = _new_span(Span, node.byte_range)
        if kind in _LEAF_STMTS:  # most statements: nothing nested to build
            return Stmt(kind, span)
        if t in _PREPROC_BLOCKS:
            return self.preproc(node, locals_)
        if kind is None:
            if t == "attributed_statement":
                inner = [c for c in node.named_children if c.type != "attribute_declaration"]
                if inner:
                    return self.stmt(inner[-1], locals_)
            return Stmt("empty" if t == ";" else "other", span)
        if kind == "decl":
            locals_.extend(self.decls(node))
            self.gfp_inits(node)
            return Stmt("decl", span)
        if kind == "block":
            return Stmt("block", span, self.stmts(node.named_children, locals_))
        if kind == "if":
            cond = node.child_by_field_name("condition")
            then = node.child_by_field_name("consequence")
            alt = node.child_by_field_name("alternative")
            if alt is not None and alt.type == "else_clause":  # `else /* comment */ stmt;`: the statement
                alt = next((c for c in alt.named_children if c.type != "comment"), None)
            return Stmt("if", span, (self.stmt(then, locals_),) if then is not None else (),
                        self.cond(cond), self.stmt(alt, locals_) if alt is not None else None,
                        macro=self.loop_macros.get(node.start_byte, ""))
        if kind in ("while", "do", "switch"):
            body = node.child_by_field_name("body")
            return Stmt(kind, span, (self.stmt(body, locals_),) if body is not None else (),
                        self.cond(node.child_by_field_name("condition")),
                        macro=self.loop_macros.get(node.start_byte, ""))
        if kind == "for":
            init = node.child_by_field_name("initializer")
            if init is not None and init.type == "declaration":
                locals_.extend(self.decls(init))
            body = node.child_by_field_name("body")
            return Stmt("for", span, (self.stmt(body, locals_),) if body is not None else (),
                        self.cond(node.child_by_field_name("condition")))
        if kind == "case":
            value = node.child_by_field_name("value")
            body = [c for c in node.named_children if c is not value]
            return Stmt("case", span, self.stmts(body, locals_), self.cond(value),
                        label="case" if value is not None else "default")
        if kind == "label":
            label = node.child_by_field_name("label")
            body = [c for c in node.named_children if c is not label]
            return Stmt("label", span, self.stmts(body, locals_), label=self.text(label) if label else "")
        if kind == "goto":
            label = node.child_by_field_name("label")
            return Stmt("goto", span, label=self.text(label) if label is not None else "")
        if kind == "return":
            value = node.named_children[0] if node.named_children else None
            return Stmt("return", span, cond=self.expr(value) if value is not None else None)
        return Stmt(kind, span)

    def stmts(self, nodes, locals_: list[Decl]) -> tuple[Stmt, ...]:
        return tuple([self.stmt(c, locals_) for c in nodes if c.type != "comment"])

    def preproc(self, node: ts.Node, locals_: list[Decl]) -> Stmt:
        """`#if` inside a function: either branch may be compiled, so it is an `if` with no condition."""
        alt_node = node.child_by_field_name("alternative")
        skip = {alt_node, node.child_by_field_name("condition"), node.child_by_field_name("name")}
        body = [c for c in node.named_children if c not in skip and not c.type.startswith("preproc_arg")
                and c.type not in ("identifier", "preproc_defined", "binary_expression", "comment")]
        then = Stmt("block", self.span(node), self.stmts(body, locals_))
        alt = self.preproc(alt_node, locals_) if alt_node is not None else None
        return Stmt("if", self.span(node), (then,), None, alt, macro="#if")

    def cond(self, node: ts.Node | None) -> Expr | None:
        if node is None:
            return None
        if node.type == "parenthesized_expression" and node.named_child_count == 1:
            node = node.named_children[0]
        return self.expr(node)


def _named(node: ts.Node) -> list[ts.Node]:
    return [c for c in node.named_children if c.type != "comment"]


_QUALIFIERS = {"const", "volatile", "static", "extern", "register", "inline", "restrict", "__restrict",
               "_Atomic", "auto", "signed"}


def type_text(text: str) -> str:
    """A type's spelling without qualifiers and with single spaces: `const struct foo` -> `struct foo`."""
    words = [w for w in text.replace("*", " * ").split() if w not in _QUALIFIERS]
    return " ".join(words).replace(" *", "*") if words else text.strip()


def _declarator_name(node: ts.Node) -> ts.Node | None:
    while node is not None and node.type not in ("identifier", "field_identifier"):
        node = node.child_by_field_name("declarator")
    return node


def _call_context(call: ts.Node) -> tuple[str, ts.Node | None, ts.Node | None, ts.Node | None]:
    """Where a call's value goes: (use, target node, cast node, whole-statement node)."""
    node, cast = call, None
    parent = node.parent
    while parent is not None and parent.type in ("parenthesized_expression", "cast_expression"):
        if parent.type == "cast_expression" and cast is None:
            cast = parent
        node, parent = parent, parent.parent
    if parent is None:
        return "other", None, cast, None
    t = parent.type
    if t == "assignment_expression" and parent.child_by_field_name("right") == node:
        op = parent.child_by_field_name("operator")
        if op is not None and op.type != "=":
            return "other", None, cast, None
        stmt = parent.parent if parent.parent is not None and parent.parent.type == "expression_statement" else None
        return "assign", parent.child_by_field_name("left"), cast, stmt
    if t == "init_declarator" and parent.child_by_field_name("value") == node:
        decl = parent.parent
        stmt = decl if decl is not None and decl.type == "declaration" else None
        return "init", _declarator_name(parent.child_by_field_name("declarator")), cast, stmt
    if t == "expression_statement":
        return "stmt", None, cast, parent
    if t == "return_statement":
        return "return", None, cast, None
    if t == "argument_list":
        return "arg", None, cast, None
    if t in ("if_statement", "while_statement") or (t == "unary_expression" and parent.parent is not None
                                                   and parent.parent.type == "parenthesized_expression"):
        return "cond", None, cast, None
    return "other", None, cast, None


def _contains(ranges: list[tuple[int, int]], starts: list[int], offset: int) -> bool:
    i = bisect_right(starts, offset) - 1
    return i >= 0 and ranges[i][0] <= offset < ranges[i][1]


def _document_order(node: ts.Node) -> tuple[int, int, int]:
    return node.start_byte, -node.end_byte, node.kind_id


def extract(source: SourceFile, model: Model, declarations_only: bool = False) -> FileFacts:
    """Facts for one file. The tree is dropped before returning. With `declarations_only` (a header read
    for the names it declares), functions, calls, stores and bindings are left out."""
    original = source.data
    parse_bytes, rewrites = rewrite_source(original, model.macros)
    tree = ts.Parser(LANGUAGE).parse(parse_bytes)
    index = LineIndex.build(original)
    f = _File(original, index, model, rewrites)
    # QueryCursor.captures does not return a capture's nodes in the same order from one call to the next
    # (same tree, same process): put them in document order, outer nodes first, so that facts (and every
    # "last definition wins" below) do not change from run to run.
    caps = {name: sorted(nodes, key=_document_order)
            for name, nodes in ts.QueryCursor(_DECLARATION_QUERY if declarations_only else _QUERY)
            .captures(tree.root_node).items()}

    errors: list[tuple[int, int]] = []
    for a, b in sorted((n.start_byte, n.end_byte) for n in caps.get("error", [])):
        if errors and a <= errors[-1][1]:
            errors[-1] = (errors[-1][0], max(b, errors[-1][1]))
        else:
            errors.append((a, b))
    error_starts = [a for a, _ in errors]

    structs = tuple(f.struct(n) for n in caps.get("struct", []))
    enum_constants = frozenset(f.text(n) for n in caps.get("enumerator", []))
    defines = {}
    redefined = set()
    branched = set()
    for n in caps.get("define", []):
        name = f.text(n)
        value = n.parent.child_by_field_name("value")
        text = f.text(value).strip() if value is not None else ""
        if name not in defines:
            if not CONSTANT_NAME.match(name) and _in_branch_with_alternative(n.parent):
                branched.add(name)
        elif defines[name] != text:
            redefined.add(name)
        else:
            branched.discard(name)  # defined alike a second time, as on both sides of an #else
        defines[name] = text
    redefined |= branched
    enum_values: dict[str, str] = {}
    enums: dict[str, list[str]] = {}
    for n in caps.get("enumerator", []):
        name, value = records.enum_values(f, n.parent)
        if enum_values.get(name, value) != value:
            redefined.add(name)
        enum_values[name] = value
        tag = records.enum_tag(f, n.parent)
        if tag is not None:
            enums.setdefault(tag, []).append(name)
    function_defines = dict(d for d in (records.function_define(f, n) for n in caps.get("fdefine", [])) if d)
    macro_arms: dict[str, list] = {}  # a macro defined under #ifdef arms: each definition, in order
    for n in caps.get("fdefine", []):
        macro_arms.setdefault(f.text(n), []).append(records.macro_effect(f, n))
    macro_effects = {name: records.joined(arms) for name, arms in macro_arms.items()}
    typedefs = {}
    for name, typedef in (t for n in caps.get("typedef", []) for t in records.typedef(f, n)):
        seen = typedefs.get(name)
        if seen is not None and (seen.decl.type, seen.decl.pointer, seen.decl.dims) != \
                (typedef.decl.type, typedef.decl.pointer, typedef.decl.dims):
            redefined.add(name)
        typedefs[name] = typedef
    includes = tuple(i for i in (records.include(f, n) for n in caps.get("include", [])) if i is not None)
    globals_ = tuple(d for n in caps.get("global", []) for d in f.decls(n))

    for lhs in caps.get("lhs", []):
        rhs = lhs.parent.child_by_field_name("right")
        if rhs is not None and b"GFP" in original[rhs.start_byte:rhs.end_byte]:
            f.assigns.append(Assign(f.text(lhs), f.expr(rhs), f.span(lhs.parent)))
    bindings = [b for b in (_binding(f, n) for n in caps.get("pair", [])) if b is not None]
    for handler in caps.get("handler", []):
        member = handler.parent.child_by_field_name("left").child_by_field_name("field")
        bindings.append(FieldBinding("", f.text(member), f.text(handler), f.span(handler.parent),
                                     owner=_owner(f, member)))

    fn_nodes = sorted(caps.get("function", []), key=lambda n: n.start_byte)
    call_nodes = sorted(caps.get("call", []), key=lambda n: n.start_byte)
    store_nodes = sorted(caps.get("store", []), key=lambda n: n.start_byte)
    deref_nodes = sorted(caps.get("deref", []), key=lambda n: n.start_byte)
    store_starts = [n.start_byte for n in store_nodes]
    deref_starts = [n.start_byte for n in deref_nodes]
    functions = []
    ci = 0
    for fn in fn_nodes:
        while ci < len(call_nodes) and call_nodes[ci].start_byte < fn.start_byte:
            ci += 1
        calls = []
        while ci < len(call_nodes) and call_nodes[ci].start_byte < fn.end_byte:
            calls.append(_call(f, call_nodes[ci], errors, error_starts))
            ci += 1
        inside = (bisect_left(store_starts, fn.start_byte), bisect_left(store_starts, fn.end_byte))
        stores = tuple(s for s in (_store(f, n) for n in store_nodes[inside[0]:inside[1]]) if s is not None)
        inside = (bisect_left(deref_starts, fn.start_byte), bisect_left(deref_starts, fn.end_byte))
        derefs = _derefs(f, deref_nodes[inside[0]:inside[1]], calls, errors, error_starts)
        function = _function(f, fn, tuple(calls), stores, derefs)
        if function is not None:
            functions.append(_with_param_derefs(f, function, deref_nodes[inside[0]:inside[1]], errors, error_starts))
    bindings = [_owned(b, functions) for b in bindings]

    suppressions = []
    for m in _SUPPRESSION.finditer(original):
        codes = tuple(c.strip() for c in m.group(2).decode("utf-8", "replace").split(",") if c.strip())
        span = Span(m.start(), m.end())
        line = index.position(m.start())[0]
        suppressions.append(Suppression(line, codes, m.group(1) == b"ignore-file", span))

    return FileFacts(
        path=source.path, index=index, functions=tuple(functions), structs=structs, globals=globals_,
        defines=defines, enum_constants=enum_constants, rewrites=rewrites,
        file_calls=() if declarations_only else _file_calls(f, tree.root_node), bindings=tuple(bindings),
        enum_values=enum_values, enums={k: tuple(v) for k, v in enums.items()},
        function_defines=function_defines, function_macros=frozenset(f.text(n) for n in caps.get("fdefine", [])), redefined=frozenset(redefined), typedefs=typedefs,
        includes=includes, macro_effects={k: v for k, v in macro_effects.items() if v is not None},
        suppressions=tuple(suppressions), error_count=len(errors), error_bytes=sum(b - a for a, b in errors),
        warnings=source.warnings,
        declarations_only=declarations_only,
    )


def _function(f: _File, node: ts.Node, calls: tuple[Call, ...], stores: tuple[Store, ...] = (),
              derefs: tuple[Deref, ...] = ()) -> Function | None:
    declarator = node.child_by_field_name("declarator")
    while declarator is not None and declarator.type != "function_declarator":
        declarator = declarator.child_by_field_name("declarator")
    body = node.child_by_field_name("body")
    if declarator is None or body is None:
        return None
    name_node = declarator.child_by_field_name("declarator")
    if name_node is None or name_node.type != "identifier":
        return None
    params: list[Decl] = []
    plist = declarator.child_by_field_name("parameters")
    if plist is not None:
        for p in plist.named_children:
            if p.type == "parameter_declaration":
                params.extend(f.decls(p))
    static = any(c.type == "storage_class_specifier" and f.text(c) == "static" for c in node.children)
    annotations = tuple(r.original for r in f.rewrites if node.start_byte <= r.start < body.start_byte)
    locals_: list[Decl] = []
    stmt = f.stmt(body, locals_)
    assigns = tuple(a for a in f.assigns if node.start_byte <= a.span.start < node.end_byte)
    return Function(f.text(name_node), f.span(node), f.span(name_node), static, annotations,
                    tuple(params), tuple(locals_), stmt, calls, assigns, stores, derefs)


def _binding(f: _File, pair: ts.Node) -> FieldBinding | None:
    """`.field = fn` (or `= &fn`) in an initialiser, with the struct type of the variable initialised."""
    value = pair.child_by_field_name("value")
    if value is not None and value.type == "pointer_expression":
        value = value.child_by_field_name("argument")
    if value is None or value.type != "identifier":
        return None
    designator = pair.child_by_field_name("designator")
    field = designator.named_children[-1] if designator is not None and designator.named_children else None
    if field is None:
        return None
    struct_type = ""
    holder = pair.parent
    if holder is not None and holder.type == "initializer_list":
        owner = holder.parent
        if owner is not None and owner.type == "init_declarator" and owner.parent is not None:
            type_node = owner.parent.child_by_field_name("type")
            struct_type = type_text(f.text(type_node)) if type_node is not None else ""
        elif owner is not None and owner.type == "compound_literal_expression":
            type_node = owner.child_by_field_name("type")
            struct_type = type_text(f.text(type_node)) if type_node is not None else ""
    return FieldBinding(struct_type, f.text(field), f.text(value), f.span(pair))


def _owner(f: _File, member: ts.Node) -> Expr | None:
    argument = member.parent.child_by_field_name("argument") if member.parent is not None else None
    return f.expr(argument) if argument is not None else None


def _owned(binding: FieldBinding, functions: list[Function]) -> FieldBinding:
    for fn in functions:
        if fn.span.start <= binding.span.start < fn.span.end:
            return FieldBinding(binding.struct_type, binding.field, binding.value, binding.span, fn.name,
                                binding.owner)
    return binding


def _file_calls(f: _File, root: ts.Node) -> tuple[Call, ...]:
    """Registration macros written at file scope (`static DEFINE_TIMER(t, fn);`, `module_init(fn);`),
    which tree-sitter parses as declarations: found by name and split at their top-level commas."""
    names = f.model.contexts.registrations
    out = []
    stack = list(root.children)
    while stack:
        node = stack.pop()
        if node.type in ("preproc_if", "preproc_ifdef", "preproc_else", "preproc_elif"):
            stack.extend(node.children)
            continue
        if node.type not in ("declaration", "expression_statement", "ERROR"):
            continue
        for m in _FILE_CALL.finditer(f.original, node.start_byte, node.end_byte):
            name = m.group(1).decode()
            if name not in names:
                continue
            open_at = m.end() - 1
            close = closing_paren(f.original, open_at)
            if close < 0:
                continue
            args = tuple(Expr("opaque", f.original[a:b].decode("utf-8", "replace").strip(), Span(a, b))
                         for a, b in top_level_args(f.original, open_at, close))
            out.append(Call(name, Span(m.start(1), close), Span(m.start(1), m.end(1)), args, use="stmt"))
    return tuple(sorted(out, key=lambda c: c.span.start))


def _in_branch_with_alternative(node: ts.Node) -> bool:
    """Is the node inside an #if/#ifdef that has an #else or #elif (on either side)? A lower-case macro
    defined there once only (`#if MAX_NUMNODES > 1 extern unsigned int nr_node_ids; #else #define
    nr_node_ids 1U`) stands for a variable in the other builds. ALL_CAPS ones are constants by kernel
    style, typically all under one `#ifdef CONFIG_X ... #else stubs #endif`. An include guard has no #else."""
    parent = node.parent
    while parent is not None:
        if parent.type in ("preproc_else", "preproc_elif", "preproc_elifdef"):
            return True
        if parent.type in ("preproc_if", "preproc_ifdef") and parent.child_by_field_name("alternative") is not None:
            return True
        parent = parent.parent
    return False


def _call(f: _File, node: ts.Node, errors, error_starts) -> Call:
    fn = node.child_by_field_name("function")
    args_node = node.child_by_field_name("arguments")
    name = f.text(fn) if fn is not None else ""
    arg_nodes = _named(args_node) if args_node is not None else []
    if name in f.model.interesting:
        args = tuple(f.expr(a) for a in arg_nodes)
    else:
        args = tuple(f.expr(a) if b"GFP" in f.original[a.start_byte:a.end_byte] else f.shallow(a)
                     for a in arg_nodes)
    use, target, cast, stmt = _call_context(node)
    return Call(
        name=name,
        span=f.span(node),
        name_span=f.span(fn) if fn is not None else f.span(node),
        args=args,
        target=f.expr(target) if target is not None else None,
        cast=f.expr(cast) if cast is not None else None,
        use=use,
        stmt=f.span(stmt) if stmt is not None else None,
        in_error=_contains(errors, error_starts, node.start_byte),
        conditional=_evaluation(f, node) is True,
    )


# -- stores and dereferences, for the lifetime analysis ---------------------------------------------

_UNWRAP = ("parenthesized_expression", "cast_expression")
_STORE_TARGETS = ("identifier", "field_expression", "subscript_expression", "pointer_expression")
_SIMPLE_VALUES = ("identifier", "field_expression", "subscript_expression", "pointer_expression", "null",
                  "number_literal", "cast_expression", "parenthesized_expression", "conditional_expression",
                  "call_expression", "true", "false", "unary_expression", "assignment_expression",
                  "string_literal", "concatenated_string")
_STATEMENT_LEVEL = ("expression_statement", "declaration", "if_statement", "while_statement", "for_statement",
                    "do_statement", "switch_statement", "return_statement", "case_statement",
                    "compound_statement", "function_definition", "translation_unit", "init_declarator")


def _unwrapped(node: ts.Node) -> ts.Node:
    """The expression inside parentheses and casts."""
    while node.type in _UNWRAP:
        inner = node.child_by_field_name("value") if node.type == "cast_expression" else (
            node.named_children[0] if node.named_children else None)
        if inner is None:
            break
        node = inner
    return node


def _store(f: _File, node: ts.Node) -> Store | None:
    """`target = value`, `T target = value` or `target++`; None when a call's result is stored (the Call
    says so)."""
    if node.type == "assignment_expression":
        target = node.child_by_field_name("left")
        value = node.child_by_field_name("right")
        operator = node.child_by_field_name("operator")
        plain = operator is not None and operator.type == "="
    elif node.type == "update_expression":
        target = value = node.child_by_field_name("argument")
        plain = False
    else:
        target = _declarator_name(node.child_by_field_name("declarator"))
        value = node.child_by_field_name("value")
        plain = True
    if target is None or value is None or target.type not in _STORE_TARGETS:
        return None
    if plain and _unwrapped(value).type == "call_expression":
        return None
    if plain and value.type in _SIMPLE_VALUES:
        return Store(f.expr(target, [40]), f.expr(value, [60]), f.span(node))
    if node.type == "update_expression":  # `i++`: kept as text, a counter's next value may be known
        return Store(f.expr(target, [40]), Expr("other", f.text(node), f.span(node)), f.span(node))
    if plain and value.type == "initializer_list":  # `{ .flags = f }`: only which fields it sets, `{.flags}`
        fields = [f.text(d) for pair in value.named_children if pair.type == "initializer_pair"
                  for d in pair.children_by_field_name("designator") if d.type == "field_designator"]
        return Store(f.expr(target, [40]), Expr("other", "{" + ",".join(fields) + "}", f.span(value)), f.span(node))
    return Store(f.expr(target, [40]), Expr("other", "", f.span(value)), f.span(node))  # not a pointer's value


def _derefs(f: _File, bases: list[ts.Node], calls: list[Call], errors, error_starts) -> tuple[Deref, ...]:
    """Dereferences of the pointers a function allocates or frees; the rest are not needed."""
    allocators, frees = f.model.allocators, f.model.frees
    names: set[str] = set()
    for call in calls:
        if call.name in allocators and call.target is not None:
            names.add(norm(call.target.text))
        free = frees.get(call.name)
        if free is not None and free.ptr < len(call.args):
            names.add(norm(call.args[free.ptr].strip().text))
    if not names:
        return ()
    out = []
    for base in bases:
        pointer = _unwrapped(base)
        if pointer.type not in ("identifier", "field_expression"):
            continue
        key = norm(f.text(pointer))
        if key not in names or _contains(errors, error_starts, base.start_byte):
            continue
        access = base.parent
        conditional = _evaluation(f, access)
        if conditional is not None:
            out.append(Deref(key, f.span(access), conditional, _address_only(access)))
    return tuple(out)


def _with_param_derefs(f: _File, function: Function, bases: list[ts.Node], errors, error_starts) -> Function:
    """The function with the loads and stores through its pointer parameters (`p->x`, `*p`, `p[i]`; not an
    address `&p->x`, which a callee may only keep), for the callers that hand it a pointer."""
    names = {p.name for p in function.params if p.holds_address}
    if not names:
        return function
    structs = {p.name for p in function.params if p.pointer == 1 and p.type.startswith(("struct ", "union "))}
    out = []
    for base in bases:
        pointer = _unwrapped(base)
        if pointer.type == "identifier":
            key = f.text(pointer) if f.text(pointer) in names else None
        else:
            key = _field_of(f, pointer, structs) if structs and pointer.type == "field_expression" else None
        if key is None or _contains(errors, error_starts, base.start_byte):
            continue
        access = base.parent
        conditional = _evaluation(f, access)
        if conditional is not None and not _address_of(access):
            out.append(Deref(key, f.span(access), conditional))
    return dataclasses.replace(function, param_derefs=tuple(out)) if out else function


def _field_of(f: _File, pointer: ts.Node, structs: set[str]) -> str | None:
    """`priv->buf` or `priv->cfg.name` (no white space) when `pointer` is a field reached from one of the
    struct pointer parameters `structs` through fields only: a pointer the caller may have stored."""
    node = pointer
    while node.type == "field_expression":
        node = node.child_by_field_name("argument")
        if node is None:
            return None
    return norm(f.text(pointer)) if node.type == "identifier" and f.text(node) in structs else None


def _address_of(access: ts.Node) -> bool:
    """`&p->a.b`, `&p[i]`, `&*p`: an address computed from the pointer, not a load or store through it."""
    node = access
    while node.parent is not None and node.parent.type in ("field_expression", "subscript_expression",
                                                           "parenthesized_expression"):
        outer = node.parent
        if outer.type == "subscript_expression" and node != outer.child_by_field_name("argument"):
            break
        operator = outer.child_by_field_name("operator") if outer.type == "field_expression" else None
        if operator is not None and operator.type == "->":
            break  # `&p->a->b` loads p->a
        node = outer
    parent = node.parent
    operator = parent.child_by_field_name("operator") if parent is not None and \
        parent.type == "pointer_expression" else None
    return operator is not None and operator.type == "&"


def _address_only(access: ts.Node) -> bool:
    """`&p->a.b` whose address is stored or returned rather than passed to a call."""
    node = access
    while node.parent is not None and node.parent.type == "field_expression":
        node = node.parent
    parent = node.parent
    if parent is None or parent.type != "pointer_expression" or parent.child_by_field_name("operator") is None \
            or parent.child_by_field_name("operator").type != "&":
        return False
    outer = parent.parent
    while outer is not None and outer.type in ("parenthesized_expression", "cast_expression"):
        outer = outer.parent
    return outer is not None and outer.type in ("return_statement", "assignment_expression", "init_declarator")


def _evaluation(f: _File, node: ts.Node) -> bool | None:
    """None when the expression is never evaluated (inside sizeof, typeof, ARRAY_SIZE...); else whether
    it is evaluated only after another part of its statement decided so (`p && p->x`, `c ? p->x : 0`)."""
    unevaluated = f.model.lifetimes.unevaluated
    conditional = False
    while True:
        parent = node.parent
        if parent is None or parent.type in _STATEMENT_LEVEL:
            return conditional
        t = parent.type
        if t in ("sizeof_expression", "alignof_expression", "offsetof_expression"):
            return None
        if t == "call_expression":
            callee = parent.child_by_field_name("function")
            if callee is not None and f.text(callee) in unevaluated:
                return None
        elif t == "binary_expression" and node == parent.child_by_field_name("right"):
            operator = parent.child_by_field_name("operator")
            conditional |= operator is not None and operator.type in ("&&", "||")
        elif t == "conditional_expression" and node != parent.child_by_field_name("condition"):
            conditional = True
        node = parent
