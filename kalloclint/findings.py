"""What a check reports: findings with their location, severity, optional fix and related locations."""

from __future__ import annotations

from dataclasses import dataclass

from kalloclint.source import Location, Span

SEVERITIES = ("info", "warning", "error")


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


@dataclass(frozen=True, slots=True)
class Edit:
    """Replace bytes [start, end) of the file with `text`."""

    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Fix:
    """A rewrite that resolves a finding. `applicability` is "safe" or "unsafe"."""

    description: str
    applicability: str
    edits: tuple[Edit, ...]


@dataclass(frozen=True, slots=True)
class Related:
    """Another place that explains a finding (where a lock was taken, a hop of a call chain)."""

    path: str
    location: Location
    message: str


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    name: str
    severity: str
    message: str
    path: str
    span: Span
    location: Location
    fix: Fix | None = None
    related: tuple[Related, ...] = ()

    def sort_key(self) -> tuple:
        return (self.path, self.location.line, self.location.col, self.code, self.message)
