"""`--changed-since REV`: the lines added or changed since a git revision, read from `git diff`.

The working tree (with uncommitted edits) is compared with REV; files git does not track yet (and
does not ignore) count as changed throughout. Findings elsewhere are hidden, not skipped: the whole
tree is still analysed, so a chain through unchanged files is still found on the changed line.
"""

from __future__ import annotations

import os
import re
import subprocess

_HUNK = re.compile(r"@@ -\d+(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


class ChangesError(Exception):
    """git could not say what changed; the message is the one line shown to the user."""


class ChangedLines:
    """Which lines of which files changed; paths are compared by their real absolute path."""

    def __init__(self, lines: dict[str, set[int]], whole_files: set[str]):
        self._lines = lines
        self._whole = whole_files

    def __contains__(self, position: tuple[str, int]) -> bool:
        path, line = position
        real = os.path.realpath(path)
        return real in self._whole or line in self._lines.get(real, ())


def _git(args: list[str], cwd: str) -> bytes:
    try:
        proc = subprocess.run(["git", "-c", "core.quotePath=true", *args], cwd=cwd, capture_output=True)
    except FileNotFoundError:
        raise ChangesError("--changed-since needs git, which was not found") from None
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ChangesError(f"--changed-since: git {args[0]} failed: {message[0] if message else proc.returncode}")
    return proc.stdout


def unquote(path: str) -> str:
    """A path as git prints it, C-quoted when it has unusual characters (`"a\\tb/\\303\\251.c"`)."""
    if not (len(path) >= 2 and path.startswith('"') and path.endswith('"')):
        return path
    out = bytearray()
    body, i = path[1:-1], 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in "01234567":
                out.append(int(body[i + 1:i + 4], 8))
                i += 4
                continue
            out.append(_ESCAPES.get(nxt, ord(nxt)))
            i += 2
            continue
        out += c.encode("utf-8")
        i += 1
    return os.fsdecode(bytes(out))


def parse_diff(diff: str) -> dict[str, set[int]]:
    """Added or changed lines (new-side numbers) per path, from `git diff --unified=0` output."""
    changed: dict[str, set[int]] = {}
    current: str | None = None
    lines = diff.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if line.startswith("+++ "):
            target = unquote(line[4:].rstrip("\t"))
            current = target[2:] if target.startswith("b/") else None  # None: /dev/null, a deletion
        elif line.startswith("@@ ") and current is not None:
            m = _HUNK.match(line)
            if m is None:
                continue
            old_count = int(m.group(1) or 1)
            start, count = int(m.group(2)), int(m.group(3) or 1)
            changed.setdefault(current, set()).update(range(start, start + count))
            i += old_count + count  # the hunk's own lines, which may look like headers
            while i < len(lines) and lines[i].startswith("\\"):
                i += 1  # "\ No newline at end of file"
    return changed


def changed_lines(rev: str, where: str) -> ChangedLines:
    """What changed between `rev` and the working tree of the git repository containing `where`."""
    where = os.path.abspath(where)
    cwd = where if os.path.isdir(where) else os.path.dirname(where) or "."
    top = _git(["rev-parse", "--show-toplevel"], cwd).decode("utf-8", "surrogateescape").strip()
    if rev.startswith("-"):
        raise ChangesError(f"--changed-since: '{rev}' is not a revision")
    try:
        _git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"], top)
    except ChangesError:
        raise ChangesError(f"--changed-since: '{rev}' is not a commit of the git repository at {top}") from None
    diff = _git(["diff", "--unified=0", "--no-color", "--no-ext-diff", "--no-textconv", "--find-renames",
                 "--ignore-submodules", "--src-prefix=a/", "--dst-prefix=b/", rev, "--"], top)
    untracked = _git(["ls-files", "--others", "--exclude-standard", "-z"], top)
    lines = {os.path.realpath(os.path.join(top, path)): numbers
             for path, numbers in parse_diff(diff.decode("utf-8", "replace")).items()}
    whole = {os.path.realpath(os.path.join(top, os.fsdecode(p))) for p in untracked.split(b"\0") if p}
    return ChangedLines(lines, whole)
