"""Applying fixes: edits bottom-up per file, overlaps resolved in a fixed order, each result re-parsed and
re-checked until nothing more applies, files written atomically; also the unified diff of it all."""

from __future__ import annotations

import difflib
import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from kalloclint.config import Settings
from kalloclint.findings import Edit, Finding, Fix
from kalloclint.frontend.extract import extract
from kalloclint.model import Model
from kalloclint.source import SourceError, read_source, source_from_bytes

MAX_PASSES = 8  # a fix can reveal another (a NULL check around a free that is itself fixed)


@dataclass(slots=True)
class FixedFile:
    """One file's text before and after its fixes, and how many fixes made the difference."""

    path: str
    before: bytes
    after: bytes
    applied: int


def wanted(fix: Fix | None, unsafe: bool) -> bool:
    return fix is not None and (fix.applicability == "safe" or (unsafe and fix.applicability == "unsafe"))


def _widened(data: bytes, edit: Edit) -> Edit:
    """A deletion that leaves only blanks on its line takes the whole line with it."""
    if edit.text:
        return edit
    line_start = data.rfind(b"\n", 0, edit.start) + 1
    line_end = data.find(b"\n", edit.end)
    line_end = len(data) if line_end < 0 else line_end
    if data[line_start:edit.start].strip() or data[edit.end:line_end].strip():
        return edit
    return Edit(line_start, min(line_end + 1, len(data)), "")


def widened_edits(data: bytes, fix: Fix) -> list[Edit]:
    """The edits of `fix` as they are applied: a deletion that empties its line removes the line."""
    return [_widened(data, e) for e in fix.edits]


def _overlap(a: Edit, b: Edit) -> bool:
    return a.start < b.end and b.start < a.end or a.start == b.start


def choose(data: bytes, fixes: Iterable[Fix]) -> list[Fix]:
    """The fixes to apply together: in order of position, a fix whose edits overlap one already chosen is
    left for the next pass."""
    chosen: list[Fix] = []
    taken: list[Edit] = []
    ordered = sorted(set(fixes), key=lambda f: (min((e.start for e in f.edits), default=0),
                                                max((e.end for e in f.edits), default=0), f.description,
                                                [(e.start, e.end, e.text) for e in f.edits]))
    for fix in ordered:
        edits = widened_edits(data, fix)
        if not edits or any(_overlap(a, b) for a in edits for b in taken) \
                or any(_overlap(a, b) for i, a in enumerate(edits) for b in edits[i + 1:]):
            continue
        chosen.append(fix)
        taken.extend(edits)
    return chosen


MAX_LINE = 100  # the kernel's line length (checkpatch)


def all_edits(data: bytes, fixes: Iterable[Fix]) -> list[Edit]:
    """The edits that apply `fixes` (chosen not to overlap), in kernel style: the lines they change are
    rewritten whole when a line has grown past MAX_LINE (broken after an argument, continued under its
    parenthesis), and the continuation lines aligned to a parenthesis that moved are re-indented."""
    edits = sorted((e for f in fixes for e in widened_edits(data, f)), key=lambda e: e.start)
    out: list[Edit] = []
    for first, last, group in _line_groups(data, edits):
        out.extend(_styled(data, first, last, group, edits))
    return out


def _line_groups(data: bytes, edits: list[Edit]) -> list[tuple[int, int, list[Edit]]]:
    """Edits grouped by the lines they touch: (start of the first line, end of the last line, edits)."""
    groups: list[tuple[int, int, list[Edit]]] = []
    for e in edits:
        first = data.rfind(b"\n", 0, e.start) + 1
        last = data.find(b"\n", max(e.end - 1, e.start) if e.end > e.start and data[e.end - 1:e.end] == b"\n"
                         else e.end)
        last = len(data) if last < 0 else last
        if groups and first <= groups[-1][1]:
            g_first, g_last, group = groups[-1]
            groups[-1] = (g_first, max(g_last, last), group + [e])
        else:
            groups.append((first, last, [e]))
    return groups


def _styled(data: bytes, first: int, last: int, group: list[Edit], edits: list[Edit]) -> list[Edit]:
    region = data[first:last]
    new = _edited(region, group, first)
    longest = max((_width(line) for line in region.split(b"\n")), default=0)
    lines = new.split(b"\n")
    for i, line in enumerate(lines):
        if _width(line[:max(_code(line), default=-1) + 1]) > MAX_LINE >= longest:  # trailing comments may
            lines[i] = _broken(line) or line
    wrapped = b"\n".join(lines)
    moved = []
    old_open, new_open = _open_parens(region), _open_parens(wrapped)
    if old_open and len(old_open) == len(new_open):
        old_col = _width(region[region.rfind(b"\n", 0, old_open[-1]) + 1:old_open[-1] + 1])
        new_col = _width(wrapped[wrapped.rfind(b"\n", 0, new_open[-1]) + 1:new_open[-1] + 1])
        if old_col != new_col:
            moved = _continuations(data, last + 1, old_col, new_col, edits)
    if wrapped == new:
        return group + moved
    return [Edit(first, last, wrapped.decode("utf-8", "replace"))] + moved


def _broken(line: bytes) -> bytes | None:
    """`line` broken after the last argument comma that leaves both parts within MAX_LINE, or None."""
    commas = [i for i in _code(line) if line[i] == ord(",") and line[i + 1:i + 2] == b" "]
    for i in reversed(commas):
        head, tail = line[:i + 1], line[i + 2:]
        opened = _open_parens(head)
        if not opened or _width(head) > MAX_LINE:
            continue
        indent = _indent(_width(head[:opened[-1] + 1])).encode()
        if _width(indent + tail) <= MAX_LINE:
            return head + b"\n" + indent + tail
    return None


def apply(data: bytes, fixes: Iterable[Fix]) -> bytes:
    """The text with the (non-overlapping) edits of `fixes` applied, from the bottom of the file up, so
    that every byte offset still points where it did."""
    out = data
    for edit in sorted(all_edits(data, fixes), key=lambda e: e.start, reverse=True):
        out = out[:edit.start] + edit.text.encode("utf-8") + out[edit.end:]
    return out


def _width(text: bytes) -> int:
    """Display width of the start of a line, with tabs to the next multiple of 8."""
    col = 0
    for ch in text.decode("utf-8", "replace"):
        col = (col // 8 + 1) * 8 if ch == "\t" else col + 1
    return col


def _indent(width: int) -> str:
    return "\t" * (width // 8) + " " * (width % 8)


def _edited(text: bytes, edits: list[Edit], base: int) -> bytes:
    for e in sorted(edits, key=lambda e: e.start, reverse=True):
        text = text[:e.start - base] + e.text.encode("utf-8") + text[e.end - base:]
    return text


def _code(line: bytes) -> Iterator[int]:
    """Offsets of the bytes of some lines that are code: not in a comment, string or character literal."""
    i, quote = 0, 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == ord("\\"):
                i += 1
            elif ch == quote:
                quote = 0
        elif line.startswith(b"//", i):
            end = line.find(b"\n", i)
            if end < 0:
                return
            i = end
        elif line.startswith(b"/*", i):
            close = line.find(b"*/", i + 2)
            if close < 0:
                return
            i = close + 1
        elif ch in b"\"'":
            quote = ch
        else:
            yield i
        i += 1


def _open_parens(line: bytes) -> list[int]:
    """Offsets of the parentheses still open at the end of some lines."""
    stack: list[int] = []
    for i in _code(line):
        if line[i] == ord("("):
            stack.append(i)
        elif line[i] == ord(")") and stack:
            stack.pop()
    return stack


def _continuations(data: bytes, start: int, old_col: int, new_col: int, edits: list[Edit]) -> list[Edit]:
    """Re-indent the lines from `start` on that are indented to `old_col`, until a line that is not."""
    out = []
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end
        line = data[start:end]
        body = len(line) - len(line.lstrip(b" \t"))
        if not line.strip() or _width(line[:body]) != old_col or \
                any(e.start < start + body and start < e.end for e in edits):
            break
        out.append(Edit(start, start + body, _indent(new_col)))
        start = end + 1
    return out


def fix_text(data: bytes, fixes: list[Fix], errors: Callable[[bytes], int]) -> tuple[bytes, int]:
    """Apply what `choose` picks; a fix whose result parses worse (more ERROR nodes) than the text before
    is dropped. Returns the new text and the number of fixes applied."""
    chosen = choose(data, fixes)
    if not chosen:
        return data, 0
    before = errors(data)
    after = apply(data, chosen)
    if errors(after) <= before:
        return after, len(chosen)
    kept: list[Fix] = []
    for fix in chosen:
        trial = apply(data, kept + [fix])
        if errors(trial) <= before:
            kept.append(fix)
    return apply(data, kept), len(kept)


def error_counter(path: str, model: Model) -> Callable[[bytes], int]:
    def errors(data: bytes) -> int:
        try:
            return extract(source_from_bytes(path, data), model).error_count
        except (SourceError, RecursionError):
            return 1 << 30
    return errors


def fix_findings(findings: list[Finding], settings: Settings, model: Model, unsafe: bool = False,
                 texts: dict[str, bytes] | None = None) -> list[FixedFile]:
    """Fix every file that `findings` offer wanted fixes for; after each pass the file is checked again on
    its own, until no wanted fix applies. `texts` gives the bytes of files not to be read from disk."""
    from kalloclint.engine import run
    by_path: dict[str, list[Fix]] = {}
    for finding in findings:
        if wanted(finding.fix, unsafe):
            by_path.setdefault(finding.path, []).append(finding.fix)
    out = []
    for path in sorted(by_path):
        try:
            original = texts[path] if texts and path in texts else read_source(path).data
        except SourceError:
            continue
        errors = error_counter(path, model)
        text, fixes, applied = original, by_path[path], 0
        for _ in range(MAX_PASSES):
            text, count = fix_text(text, fixes, errors)
            applied += count
            if not count:
                break
            again = run([], settings, model, stdin=(path, text))
            fixes = [f.fix for f in again.findings if f.path == path and wanted(f.fix, unsafe)]
            if not fixes:
                break
        if text != original:
            out.append(FixedFile(path, original, text, applied))
    return out


def unified_diff(fixed: list[FixedFile]) -> str:
    parts = []
    for f in fixed:
        before = f.before.decode("utf-8", "replace").splitlines(keepends=True)
        after = f.after.decode("utf-8", "replace").splitlines(keepends=True)
        name = os.path.normpath(f.path)
        for line in difflib.unified_diff(before, after, f"a/{name}", f"b/{name}"):
            parts.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(parts)


def write_atomically(path: str, data: bytes, expected: bytes) -> None:
    """Replace the file's contents by `data` through a temporary file in the same directory, keeping its
    mode; raise OSError if the file no longer holds `expected` (changed since it was read)."""
    with open(path, "rb") as fh:
        if fh.read() != expected:
            raise OSError(f"{path}: changed while being fixed; not written")
    real = os.path.realpath(path)
    mode = stat.S_IMODE(os.stat(real).st_mode)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(real) or ".", prefix=f".{os.path.basename(real)}.",
                               suffix=".kalloclint")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, real)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
