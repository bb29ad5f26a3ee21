"""The text of reported files, read again for what needs whole lines: fingerprints and baseline keys."""

from __future__ import annotations

import os
from urllib.parse import quote

from kalloclint.source import LineIndex, SourceError, read_source


class Sources:
    """Bytes, line indexes and line texts of the files findings point into, read once each. Source read
    from stdin is given as `stdin` (display path -> bytes); a file that can no longer be read gives None."""

    def __init__(self, indexes: dict[str, LineIndex] | None = None, stdin: dict[str, bytes] | None = None):
        self._indexes = dict(indexes or {})
        self._data: dict[str, bytes | None] = dict(stdin or {})

    def data(self, path: str) -> bytes | None:
        if path not in self._data:
            try:
                self._data[path] = read_source(path).data
            except (SourceError, OSError):
                self._data[path] = None
        return self._data[path]

    def text(self, path: str) -> str | None:
        data = self.data(path)
        return None if data is None else data.decode("utf-8", "replace")

    def index(self, path: str) -> LineIndex | None:
        if path not in self._indexes:
            data = self.data(path)
            if data is None:
                return None
            self._indexes[path] = LineIndex.build(data)
        return self._indexes[path]

    def line(self, path: str, line: int) -> str | None:
        """The text of 1-based `line` without its line ending, or None if the file or line is gone."""
        data, index = self.data(path), self.index(path)
        if data is None or index is None or not 1 <= line <= len(index.line_starts):
            return None
        starts = index.line_starts
        end = starts[line] if line < len(starts) else len(data)
        return data[starts[line - 1]:end].decode("utf-8", "replace").rstrip("\r\n")


def relative_path(path: str, base: str | None = None) -> str:
    """`path` relative to `base` (default: the working directory), with forward slashes; a path on
    another drive stays absolute."""
    base = base or os.getcwd()
    try:
        rel = os.path.relpath(os.path.abspath(path), base)
    except ValueError:
        rel = os.path.abspath(path)
    return rel.replace(os.sep, "/")


def path_uri(path: str) -> str:
    """A relative path as a URI reference: percent-encoded, forward slashes."""
    return quote(path, safe="/")
