"""Reads the expectations written in fixture files: `expect: KAL201`, `expect-next: ...` and `ok: KAL201 why`.

A fixture whose first lines say `kalloclint-test: arch=x86_64,arm64-64k` is checked once per arch profile
named; `expect@arm64-64k: KAL206` (and `expect-next@...`) then applies under that profile only."""

from __future__ import annotations

import re
from pathlib import Path

_EXPECT = re.compile(r"\b(expect-next|expect)(?:@([\w-]+))?:\s*((?:KAL\d{3}[\s,]*)+)")
_OK = re.compile(r"\bok(?:@[\w-]+)?:\s*(KAL\d{3})\b\s*(\S.*?)?\s*(?:\*/|$)")
_ARCHS = re.compile(r"kalloclint-test:\s*arch=([\w,-]+)")
_COMMENT_ONLY = re.compile(r"^\s*(/\*.*\*/|//.*)\s*$")


def archs(path: Path) -> list[str | None]:
    """The arch profiles a fixture is checked under: [None] (the default) unless its header names some."""
    m = _ARCHS.search("\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[:5]))
    return [a for a in m.group(1).split(",") if a] if m else [None]


def expected(path: Path, arch: str | None = None) -> set[tuple[int, str]]:
    """(line, code) pairs the fixture says must be reported under `arch` (None: any), and nothing else."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    found: set[tuple[int, str]] = set()
    for number, line in enumerate(lines, start=1):
        for m in _EXPECT.finditer(line):
            if m.group(2) and arch is not None and m.group(2) != arch:
                continue
            codes = re.findall(r"KAL\d{3}", m.group(3))
            target = _next_code_line(lines, number) if m.group(1) == "expect-next" else number
            found.update((target, code) for code in codes)
    return found


def negatives(path: Path) -> list[tuple[int, str, str]]:
    """(line, code, reason) of every `ok:` annotation."""
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        for m in _OK.finditer(line):
            out.append((number, m.group(1), (m.group(2) or "").strip()))
    return out


def _next_code_line(lines: list[str], number: int) -> int:
    for i in range(number, len(lines)):
        if lines[i].strip() and not _COMMENT_ONLY.match(lines[i]):
            return i + 1
    return number
