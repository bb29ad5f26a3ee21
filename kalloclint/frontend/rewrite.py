"""Length-preserving rewrite of kernel macros that tree-sitter-c cannot parse, with a record of each change."""

from __future__ import annotations

import re

from kalloclint.frontend.facts import Rewrite
from kalloclint.model import Macros

_MAX_ARGS_BYTES = 4096
_STATEMENT_START = re.compile(rb"\s*[A-Za-z_{(*]")


def _pattern(macros: Macros) -> re.Pattern[bytes]:
    names = sorted(macros.blank | macros.blank_call | macros.guard_block | set(macros.type_args),
                   key=len, reverse=True)
    alternatives = [re.escape(n.encode()) for n in names]
    alternatives += [rb"[A-Za-z0-9_]*" + re.escape(w.encode()) + rb"[A-Za-z0-9_]*" for w in macros.loop_words]
    return re.compile(rb"\b(?:" + b"|".join(alternatives) + rb")\b")


_PATTERNS: dict[int, re.Pattern[bytes]] = {}


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
    pattern = _PATTERNS.get(id(macros))
    if pattern is None:
        pattern = _PATTERNS[id(macros)] = _pattern(macros)
    buf: bytearray | None = None
    records: list[Rewrite] = []
    for m in pattern.finditer(data):
        name = m.group().decode()
        start, end = m.span()
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
    return (bytes(buf) if buf is not None else data), tuple(records)


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
