"""One arm for each preprocessor conditional that tree-sitter-c cannot parse as it stands, or that starts
with `#if 0`: its other arms and its own directive lines are blanked before parsing (same length, every
line end kept).

tree-sitter-c parses `#if` ... `#endif` as a unit only when every arm holds whole statements or
declarations. Arms that each open a brace (`#ifdef X` / `if (a) {` / `#else` / `if (b) {` / `#endif`),
a conditional in the middle of an expression (`size = a` / `#if X` / `+ b` / `#endif` / `;`) or an
arm ending in `else` give ERROR nodes, and the error often swallows the rest of the file. Such a
conditional is evaluated as the compiler would for one configuration: its first arm is kept, or for
`#if 0` the first arm whose condition is not 0. Code under `#if 0` is never compiled, so an `#if 0`
arm is blanked whether it parses or not. Other conditionals tree-sitter parses are left alone: all their
arms stay visible (a struct member or a macro defined under `#if` keeps its sizes unknown)."""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass, field

from kalloclint.frontend.facts import Rewrite

_ANY_CONDITIONAL = re.compile(rb"#[ \t]*if")
# Comments, string and character literals, and directive lines (with continuations and comments), found
# in one left-to-right pass so that a `#else` inside a comment is never taken for a directive. Every
# alternative starts with a fixed byte, which lets the regex engine skip to the candidates, and loops are
# unrolled (a lazy `.*?` over long comments cost twice as much); a directive line is matched with the
# newline before it (the scan reads the file after one newline).
_TOKENS = re.compile(rb"""
    /(?:\*[^*]*\*+(?:[^/*][^*]*\*+)*/|/[^\n]*)
  | "[^"\\\n]*(?:\\.[^"\\\n]*)*" | '[^'\\\n]*(?:\\.[^'\\\n]*)*'
  | \n[ \t]*\#[ \t]*(?P<directive>\w*)[^\\\n/]*(?:(?:/\*[^*]*\*+(?:[^/*][^*]*\*+)*/|\\.|/(?!\*))[^\\\n/]*)*
""", re.S | re.X)
_OPENERS = {b"if", b"ifdef", b"ifndef"}
_ARMS = {b"elif", b"elifdef", b"elifndef", b"else"}
_COMMENT_OR_CONTINUATION = re.compile(rb"/\*.*?\*/|//[^\n]*|\\\n", re.S)
_ZERO = re.compile(rb"\s*(?:0|\(\s*0\s*\))\s*")
# The last byte of an arm, or the one before a conditional, where a statement or declaration may end.
_BOUNDARY = frozenset(b";{},:")
# An arm that continues the statement before the conditional: `}` / `#ifdef X` / `else if (b) {...}`.
_CONTINUES = re.compile(rb"\s*(?:[})\]]|else\b)")
_BLANK = bytes(b if b in (0x0A, 0x0D) else 0x20 for b in range(256))  # line ends are kept
_BRACKETS = ((b"{", b"}"), (b"(", b")"), (b"[", b"]"))


@dataclass(slots=True)
class _Conditional:
    """`arms` are (start, end, keyword, condition) of each arm's directive line; `end` is the `#endif`."""

    arms: list[tuple[int, int, bytes, bytes]] = field(default_factory=list)
    end: tuple[int, int] = (0, 0)

    def content(self, i: int) -> tuple[int, int]:
        """The bytes of arm `i` between its directive line and the next one of this conditional."""
        stop = self.arms[i + 1][0] if i + 1 < len(self.arms) else self.end[0]
        return self.arms[i][1], stop


def one_arm(data: bytes) -> tuple[bytes, tuple[Rewrite, ...]]:
    """The bytes to parse (same length) with each conditional tree-sitter cannot parse reduced to one arm,
    and a record ("preproc", from its `#if` to its `#endif`) of each one reduced. A conditional that
    starts with `#if 0` is reduced whether it parses or not."""
    if not _ANY_CONDITIONAL.search(data):
        return data, ()
    masked, directives, closed = _scan(data)
    out: bytearray | None = None
    records: list[Rewrite] = []
    for cond in closed:  # inner conditionals first: an outer one is judged on what its arms become
        chosen = _chosen_arm(cond)
        if chosen == 0 and not _unparsable(cond, masked):
            continue
        if out is None:
            out = bytearray(data)
        for start, end, _, _ in cond.arms:
            out[start:end] = data[start:end].translate(_BLANK)
        out[cond.end[0]:cond.end[1]] = data[cond.end[0]:cond.end[1]].translate(_BLANK)
        for i in range(len(cond.arms)):
            if i != chosen:
                a, b = cond.content(i)
                _blank_code(out, data, a, b, directives)
                masked[a:b] = masked[a:b].translate(_BLANK)
        first = cond.arms[0]
        records.append(Rewrite(first[0], cond.end[1], "preproc", data[first[0]:first[1]].decode("utf-8", "replace")))
    if out is None:
        return data, ()
    return bytes(out), tuple(sorted(records, key=lambda r: r.start))


def _scan(data: bytes) -> tuple[bytearray, list[tuple[int, int]], list[_Conditional]]:
    """The bytes with comments, literals and directive lines blanked; every directive line's span; and the
    conditionals, each listed after those nested in it. An unterminated conditional is left out."""
    masked = bytearray(data)
    directives: list[tuple[int, int]] = []
    open_: list[_Conditional] = []
    closed: list[_Conditional] = []
    for m in _TOKENS.finditer(b"\n" + data):  # offsets in `data` are one less
        start, end = m.start() - 1, m.end() - 1
        keyword = m.group("directive")
        if keyword is None:
            if data[start] in b"\"'":  # a literal keeps its quotes: it is code, for what ends a statement
                start, end = start + 1, end - 1
            masked[start:end] = data[start:end].translate(_BLANK)
            continue
        start += 1  # the directive line starts after the newline
        masked[start:end] = data[start:end].translate(_BLANK)
        directives.append((start, end))
        if keyword in _OPENERS:
            open_.append(_Conditional())
        elif not open_ or (keyword not in _ARMS and keyword != b"endif"):
            continue
        if keyword == b"endif":
            cond = open_.pop()
            cond.end = (start, end)
            closed.append(cond)
        else:
            open_[-1].arms.append((start, end, keyword, data[m.end("directive") - 1:end]))
    return masked, directives, closed


def _unparsable(cond: _Conditional, masked: bytearray) -> bool:
    """Whether tree-sitter-c would not take the conditional as a unit: an arm whose brackets do not
    balance or that stops mid-statement, or a conditional inside parentheses or after an unfinished
    statement."""
    for i in range(len(cond.arms)):
        a, b = cond.content(i)
        arm = bytes(masked[a:b])
        if any(arm.count(o) != arm.count(c) for o, c in _BRACKETS):
            return True
        code = arm.rstrip()
        if code and (code[-1] not in _BOUNDARY or _CONTINUES.match(code)):
            return True
    start = cond.arms[0][0]
    before = _last_code_byte(masked, start)
    if before >= 0 and masked[before] not in _BOUNDARY:
        return True
    statement = max(masked.rfind(b";", 0, start), masked.rfind(b"{", 0, start), masked.rfind(b"}", 0, start))
    return masked.count(b"(", statement + 1, start) > masked.count(b")", statement + 1, start)


def _last_code_byte(masked: bytearray, end: int) -> int:
    """The offset of the last byte before `end` that is not white space, or -1."""
    window = 256
    while True:
        start = max(0, end - window)
        code = bytes(masked[start:end]).rstrip()
        if code:
            return start + len(code) - 1
        if start == 0:
            return -1
        window *= 4


def _chosen_arm(cond: _Conditional) -> int | None:
    """The first arm, or after `#if 0` the first arm whose condition is not 0; None when all are 0."""
    for i, (_, _, keyword, condition) in enumerate(cond.arms):
        if keyword in (b"if", b"elif") and _ZERO.fullmatch(_COMMENT_OR_CONTINUATION.sub(b" ", condition)):
            continue
        return i
    return None


def _blank_code(out: bytearray, data: bytes, start: int, end: int, directives: list[tuple[int, int]]) -> None:
    """Blank an arm that is not kept, except its directive lines: a macro defined in each arm stays
    defined twice, so its value stays unknown."""
    at = start
    for d_start, d_end in directives[bisect_left(directives, (start, 0)):]:
        if d_start >= end:
            break
        out[at:d_start] = data[at:d_start].translate(_BLANK)
        at = d_end
    out[at:end] = data[at:end].translate(_BLANK)
