"""The text format: `path:line:col: severity: message [CODE name]`, one finding per line."""

from __future__ import annotations

from collections import Counter

from kalloclint.findings import Finding


def render(findings: list[Finding]) -> str:
    return "".join(f"{f.path}:{f.location.line}:{f.location.col}: {f.severity}: {f.message} [{f.code} {f.name}]\n"
                   for f in findings)


def statistics(findings: list[Finding]) -> str:
    """A table of how many findings each rule produced, most first."""
    counts = Counter((f.code, f.name, f.severity) for f in findings)
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][0]))
    return "".join(f"{n:6d}  {code}  {name} ({severity})\n" for (code, name, severity), n in rows)
