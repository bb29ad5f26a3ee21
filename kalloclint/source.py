"""Source files as bytes: safe reading, the line index, and byte offsets turned into 1-based positions."""

from __future__ import annotations

import os
import re
import stat
from bisect import bisect_right
from dataclasses import dataclass
from typing import NamedTuple

MAX_FILE_BYTES = 16 * 1024 * 1024
_BINARY_PROBE = 8192
_NON_ASCII = re.compile(rb"[\x80-\xff]")


class SourceError(Exception):
    """A file that cannot be checked; the message is the one line shown to the user."""


class Span(NamedTuple):
    """A range of a file in byte offsets, end exclusive; LineIndex.locate turns it into a Location.
    (Tuples: facts hold hundreds of thousands of them and cross process boundaries.)"""

    start: int
    end: int


class Location(NamedTuple):
    """1-based lines and columns; columns count characters; the end is exclusive."""

    line: int
    col: int
    end_line: int
    end_col: int


@dataclass(slots=True)
class LineIndex:
    """Maps byte offsets to (line, column); columns count characters, decoded as UTF-8 with replacement."""

    line_starts: list[int]
    wide_lines: dict[int, bytes]  # 0-based line -> its bytes, only for lines with non-ASCII bytes

    @classmethod
    def build(cls, data: bytes) -> LineIndex:
        starts = [0]
        starts.extend(m.end() for m in re.finditer(rb"\n", data))
        wide: dict[int, bytes] = {}
        for m in _NON_ASCII.finditer(data):
            row = bisect_right(starts, m.start()) - 1
            if row not in wide:
                end = starts[row + 1] if row + 1 < len(starts) else len(data)
                wide[row] = data[starts[row]:end]
        return cls(starts, wide)

    def position(self, offset: int) -> tuple[int, int]:
        """1-based line and character column of a byte offset."""
        row = bisect_right(self.line_starts, offset) - 1
        return row + 1, self.column(row, offset - self.line_starts[row])

    def column(self, row: int, byte_col: int) -> int:
        """1-based character column of byte column `byte_col` on 0-based line `row`."""
        line = self.wide_lines.get(row)
        if line is None:
            return byte_col + 1
        return len(line[:byte_col].decode("utf-8", "replace")) + 1

    def locate(self, span: Span) -> Location:
        line, col = self.position(span.start)
        end_line, end_col = self.position(span.end)
        return Location(line, col, end_line, end_col)

    def offset(self, line: int, col: int) -> int:
        """Byte offset of a 1-based line and character column (the inverse of position)."""
        row = min(max(line - 1, 0), len(self.line_starts) - 1)
        base = self.line_starts[row]
        wide = self.wide_lines.get(row)
        if wide is None:
            return base + col - 1
        return base + len(wide.decode("utf-8", "replace")[: col - 1].encode("utf-8"))


@dataclass(slots=True)
class SourceFile:
    """One input file: its display path and bytes, with notes about how it was decoded."""

    path: str
    data: bytes
    warnings: tuple[str, ...] = ()


def read_source(path: str) -> SourceFile:
    """Read a file for checking, or raise SourceError with a one-line reason."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise SourceError("no such file (or a dangling symbolic link)") from None
    except OSError as exc:
        raise SourceError(f"cannot read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise SourceError("is a directory, not a source file")
    if not stat.S_ISREG(st.st_mode):
        raise SourceError("not a regular file (FIFO, socket or device), skipped")
    if st.st_size > MAX_FILE_BYTES:
        raise SourceError(f"too large ({st.st_size} bytes; the limit is {MAX_FILE_BYTES}), skipped")
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise SourceError(f"cannot read: {exc.strerror or exc}") from None
    return source_from_bytes(path, data)


def source_from_bytes(path: str, data: bytes) -> SourceFile:
    """Check raw bytes for what makes a file uncheckable, and note what makes it degraded."""
    if b"\0" in data[:_BINARY_PROBE]:
        raise SourceError("binary file (contains NUL bytes), skipped")
    warnings: tuple[str, ...] = ()
    if _NON_ASCII.search(data):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            warnings = (f"not valid UTF-8 (byte offset {exc.start}); checked with replacement characters",)
    return SourceFile(path, data, warnings)
