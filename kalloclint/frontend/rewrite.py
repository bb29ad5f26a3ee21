"""Length-preserving rewrite of kernel macros and preprocessor conditionals that tree-sitter-c cannot parse,
with a record of each change."""

from __future__ import annotations

import re
from dataclasses import dataclass

from kalloclint.frontend.conditionals import one_arm
from kalloclint.frontend.facts import Rewrite
from kalloclint.model import Macros

_MAX_ARGS_BYTES = 4096
_STATEMENT_START = re.compile(rb"\s*[A-Za-z_{(*]")


def _trie(words: list[str]) -> str:
    """One regex alternative for many words, factored by common prefixes: Python's re tries a flat
    alternation word by word at every position, which cost more than parsing the file."""
    root: dict = {}
    for word in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict) -> str:
        alts = [re.escape(ch) + emit(sub) for ch, sub in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if "" in node else body  # greedy: the longest name first, as before

    return emit(root)


@dataclass(frozen=True, slots=True)
class _Scanner:
    """Finds the identifiers to rewrite: whole words that are macro names, or that contain a loop word
    (found by a literal search, then widened to the identifier around it)."""

    names: re.Pattern[bytes] | None
    loop_words: tuple[bytes, ...]

    def spans(self, data: bytes) -> list[tuple[int, int]]:
        found = {m.span() for m in self.names.finditer(data)} if self.names is not None else set()
        for word in self.loop_words:
            at = data.find(word)
            while at >= 0:
                start, end = at, at + len(word)
                while start > 0 and data[start - 1] in _WORD:
                    start -= 1
                while end < len(data) and data[end] in _WORD:
                    end += 1
                found.add((start, end))
                at = data.find(word, end)
        return sorted(found)


_WORD = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def _scanner(macros: Macros) -> _Scanner:
    names = sorted(macros.blank | macros.blank_call | macros.guard_block | set(macros.type_args))
    pattern = re.compile(rb"\b(?:" + _trie(names).encode() + rb")\b") if names else None
    return _Scanner(pattern, tuple(w.encode() for w in macros.loop_words if w))


_SCANNERS: dict[int, _Scanner] = {}


def closing_paren(data: bytes, open_at: int) -> int:
    """Offset just past the parenthesis matching the one at `open_at`, or -1."""
    depth = 0
    limit = min(len(data), open_at + _MAX_ARGS_BYTES)
    for i in range(open_at, limit):
        c = data[i]
        if c == 0x28:
            depth += 1
        elif c == 0x29:
            depth -= 1
            if depth == 0:
                return i + 1
        elif c in (0x3B, 0x7B, 0x7D):  # ; { } end a macro call's arguments
            return -1
    return -1


def _open_paren(data: bytes, after: int) -> int:
    i = after
    while i < len(data) and data[i] in b" \t":
        i += 1
    return i if i < len(data) and data[i] == 0x28 else -1


def _on_directive_line(data: bytes, pos: int) -> bool:
    line_start = data.rfind(b"\n", 0, pos) + 1
    return data[line_start:pos].lstrip(b" \t").startswith(b"#")


def _starts_statement(data: bytes, start: int, close: int) -> bool:
    """A loop macro is a statement: it follows `;`, `{`, `}`, `)`, `:`, `else` or `do`, and a statement
    follows it; anything else (a definition `int dev_for_each(...)`, a call in an expression) is left."""
    if not _STATEMENT_START.match(data, close) or data[close:close + 64].lstrip().startswith(b"("):
        return False
    before = data[max(0, start - 64):start].rstrip()
    if not before or before[-1:] in b";{}):/" or before.rsplit(b"\n", 1)[-1].lstrip().startswith(b"#"):
        return True
    return before.endswith((b"else", b"do")) and not before[-5:-4].isalnum()


def _blank(buf: bytearray, start: int, end: int) -> None:
    for i in range(start, end):
        if buf[i] not in (0x0A, 0x0D):
            buf[i] = 0x20


def top_level_args(data: bytes, open_at: int, close: int) -> list[tuple[int, int]]:
    spans, depth, begin = [], 0, open_at + 1
    for i in range(open_at + 1, close - 1):
        c = data[i]
        if c in b"([{":
            depth += 1
        elif c in b")]}":
            depth -= 1
        elif c == 0x2C and depth == 0:
            spans.append((begin, i))
            begin = i + 1
    spans.append((begin, close - 1))
    return spans


def rewrite_source(data: bytes, macros: Macros) -> tuple[bytes, tuple[Rewrite, ...]]:
    """Return the bytes to parse (same length as `data`) and what was rewritten where."""
    scanner = _SCANNERS.get(id(macros))
    if scanner is None:
        scanner = _SCANNERS[id(macros)] = _scanner(macros)
    buf: bytearray | None = None
    records: list[Rewrite] = []
    for start, end in scanner.spans(data):
        name = data[start:end].decode()
        if _on_directive_line(data, start):
            continue
        if buf is None:
            buf = bytearray(data)
        if name in macros.blank:
            _blank(buf, start, end)
            records.append(Rewrite(start, end, "blank", name))
            continue
        open_at = _open_paren(data, end)
        close = closing_paren(data, open_at) if open_at >= 0 else -1
        if name in macros.blank_call:
            stop = close if close > 0 else end
            _blank(buf, start, stop)
            records.append(Rewrite(start, stop, "blank", data[start:stop].decode("utf-8", "replace")))
        elif close < 0:
            continue
        elif name in macros.guard_block:
            buf[start:end] = b"if".ljust(end - start)
            records.append(Rewrite(start, close, "guard", data[start:close].decode("utf-8", "replace")))
        elif name in macros.type_args:
            _join_type_arg(data, buf, open_at, close, macros.type_args[name], records)
        elif _starts_statement(data, start, close):
            buf[start:end] = b"while".ljust(end - start)
            records.append(Rewrite(start, close, "loop", data[start:close].decode("utf-8", "replace")))
    parsed, conditionals = one_arm(bytes(buf) if buf is not None else data)
    if conditionals:
        records = sorted(records + list(conditionals), key=lambda r: r.start)
    return parsed, tuple(records)


def _join_type_arg(data: bytes, buf: bytearray, open_at: int, close: int, position: int,
                   records: list[Rewrite]) -> None:
    args = top_level_args(data, open_at, close)
    if position >= len(args):
        return
    a, b = args[position]
    text = data[a:b].strip()
    if b" " not in text and b"\t" not in text and b"*" not in text:
        return
    a = data.index(text[:1], a)
    b = a + len(text)
    for i in range(a, b):
        if buf[i] in b" \t*":
            buf[i] = 0x5F  # '_'
    records.append(Rewrite(a, b, "type", text.decode("utf-8", "replace")))
