"""Output formats: one module per format, each turning findings into text."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from kalloclint.findings import Finding
from kalloclint.report import github, jsonlines, sarif, text
from kalloclint.report import json as json_format
from kalloclint.report.sources import Sources

FORMATS = ("text", "json", "json-lines", "github", "sarif")


def render(fmt: str, findings: list[Finding], sources: Sources,
           notifications: Iterable[tuple[str, str, bool]] = ()) -> str:
    """The findings in format `fmt`; SARIF also records `notifications` (path, message, fatal)."""
    if fmt == "sarif":
        return sarif.render(findings, sources, notifications)
    if fmt == "github":
        return github.render(findings)
    if fmt in ("json", "json-lines"):
        indexes = {path: index for path in {f.path for f in findings} if (index := sources.index(path))}
        return (json_format if fmt == "json" else jsonlines).render(findings, indexes)
    return text.render(findings)


def statistics(fmt: str, findings: list[Finding]) -> str:
    """How many findings each rule produced, in format `fmt`; SARIF has no form for it (ValueError)."""
    if fmt == "sarif":
        raise ValueError("--statistics has no SARIF form; use --format text, json, json-lines or github")
    if fmt in ("text", "github"):
        table = text.statistics(findings)
        return github.statistics(table) if fmt == "github" else table
    counts = Counter((f.code, f.name, f.severity) for f in findings)
    rows = [{"code": c, "name": n, "severity": s, "count": k} for (c, n, s), k in sorted(counts.items())]
    return json_format.statistics(rows) if fmt == "json" else jsonlines.statistics(rows)
