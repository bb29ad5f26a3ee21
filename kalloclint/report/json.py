"""The JSON format: one array of finding objects with 1-based positions and fixes as line/column edits."""

from __future__ import annotations

import json

from kalloclint.findings import Finding
from kalloclint.source import LineIndex


def finding_object(f: Finding, index: LineIndex | None) -> dict:
    fix = None
    if f.fix is not None and index is not None:
        edits = []
        for e in f.fix.edits:
            line, col = index.position(e.start)
            end_line, end_col = index.position(e.end)
            edits.append({"line": line, "column": col, "end_line": end_line, "end_column": end_col,
                          "text": e.text})
        fix = {"description": f.fix.description, "applicability": f.fix.applicability, "edits": edits}
    return {
        "path": f.path, "line": f.location.line, "column": f.location.col, "end_line": f.location.end_line,
        "end_column": f.location.end_col, "code": f.code, "name": f.name, "severity": f.severity,
        "message": f.message, "fix": fix,
        "related": [{"path": r.path, "line": r.location.line, "column": r.location.col, "message": r.message}
                    for r in f.related],
    }


def render(findings: list[Finding], indexes: dict[str, LineIndex]) -> str:
    return json.dumps([finding_object(f, indexes.get(f.path)) for f in findings], indent=2) + "\n"


def statistics(rows: list[dict]) -> str:
    return json.dumps(rows, indent=2) + "\n"
