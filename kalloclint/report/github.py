"""The GitHub Actions format: workflow commands (`::error file=...,line=...::message`) that become
annotations on the run and the pull request's diff.

GitHub shows at most 10 error, 10 warning and 10 notice annotations per step (50 per job) and drops
the rest silently, so the most severe findings come first, what does not fit is listed as plain log
lines, and a last notice says how many findings have no annotation.
"""

from __future__ import annotations

from collections import Counter

from kalloclint.findings import Finding, severity_rank
from kalloclint.report.sources import relative_path

PER_STEP = 10  # annotations of each kind GitHub shows for one step
COMMANDS = {"error": "error", "warning": "warning", "info": "notice"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(f: Finding) -> str:
    loc = f.location
    props = [("file", relative_path(f.path)), ("line", loc.line)]
    if loc.end_line == loc.line:  # GitHub takes columns only for a range on one line
        props += [("col", loc.col), ("endLine", loc.end_line), ("endColumn", loc.end_col)]
    else:
        props += [("endLine", loc.end_line)]
    props.append(("title", f"{f.code} {f.name}"))
    message = f.message + "".join(f"\n{relative_path(r.path)}:{r.location.line}:{r.location.col}: {r.message}"
                                  for r in f.related)
    fields = ",".join(f"{key}={escape_property(str(value))}" for key, value in props)
    return f"::{COMMANDS[f.severity]} {fields}::{escape_data(message)}\n"


def _log_line(f: Finding) -> str:
    return (f"{relative_path(f.path)}:{f.location.line}:{f.location.col}: {f.severity}: {f.message} "
            f"[{f.code} {f.name}]\n")


def render(findings: list[Finding]) -> str:
    ordered = sorted(findings, key=lambda f: -severity_rank(f.severity))  # stable: path order within a severity
    counts = Counter(f.severity for f in ordered)
    overflow = any(n > PER_STEP for n in counts.values())
    room = {"error": PER_STEP, "warning": PER_STEP, "info": PER_STEP - 1 if overflow else PER_STEP}
    out, rest = [], []
    for f in ordered:
        if room[f.severity] > 0:
            room[f.severity] -= 1
            out.append(annotation(f))
        else:
            rest.append(f)
    if rest:
        out += [_log_line(f) for f in rest]
        hidden = Counter(f.severity for f in rest)
        summary = ", ".join(f"{hidden[s]} {s}" for s in ("error", "warning", "info") if hidden[s])
        out.append(f"::notice title=kalloclint::{len(rest)} more findings ({summary}) have no annotation: GitHub "
                   f"shows at most {PER_STEP} errors, {PER_STEP} warnings and {PER_STEP} notices per step. "
                   f"They are listed in the log above.\n")
    return "".join(out)


def statistics(table: str) -> str:
    """The per-rule count table as one notice, so that it shows on the run's summary page."""
    if not table:
        return ""
    body = escape_data(table.rstrip("\n"))
    return f"::notice title=kalloclint statistics::{body}\n"
