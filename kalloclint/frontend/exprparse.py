"""Parse a C expression given as text (a macro body, an enum value, `--explain-size EXPR`) into an Expr.

Macro bodies are parsed with the same tree-sitter grammar and the same kernel-macro rewrite as the files
themselves, so the constant folder sees one kind of tree wherever an expression comes from. pycparser was
weighed for this and not used: on 3,000 #define bodies from drivers/net/ethernet it parsed as many as
tree-sitter (2,984 against 2,983) but only once every kernel typedef was declared to it, took about 40
times as long, and would have needed a second evaluator for its own tree."""

from __future__ import annotations

import re

import tree_sitter as ts

from kalloclint.frontend.extract import LANGUAGE, _File
from kalloclint.frontend.facts import Expr
from kalloclint.frontend.rewrite import rewrite_source
from kalloclint.model import Macros
from kalloclint.source import LineIndex

_PREFIX = b"int __kalloclint_expr = ("
_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_MAX_TEXT = 4000


class ExpressionParser:
    """Parses expression texts, remembering each text's tree for the run."""

    def __init__(self, macros: Macros):
        self.macros = macros
        self.parser = ts.Parser(LANGUAGE)
        self.cache: dict[str, Expr | None] = {}

    def parse(self, text: str) -> Expr | None:
        """The expression, or None when the text is not one whole expression that parses cleanly."""
        if text in self.cache:
            return self.cache[text]
        expr = self._parse(text)
        if len(self.cache) < 200_000:
            self.cache[text] = expr
        return expr

    def _parse(self, text: str) -> Expr | None:
        clean = _COMMENT.sub(" ", text.replace("\\\n", " ")).strip()
        if not clean or len(clean) > _MAX_TEXT or ";" in clean or "{" in clean:
            return None
        data = _PREFIX + clean.encode("utf-8", "replace") + b"\n);"
        parse_bytes, rewrites = rewrite_source(data, self.macros)
        tree = self.parser.parse(parse_bytes)
        root = tree.root_node
        if root.has_error or len(root.named_children) != 1:
            return None
        declarator = root.named_children[0].child_by_field_name("declarator")
        value = declarator.child_by_field_name("value") if declarator is not None else None
        if value is None or value.type != "parenthesized_expression" or value.named_child_count != 1:
            return None
        return _File(data, LineIndex.build(data), None, rewrites).expr(value.named_children[0])
