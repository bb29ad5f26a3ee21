"""The JSON Lines format: one finding object per line (the objects of the `json` format), for streaming
into other tools; `--statistics` gives one object per rule."""

from __future__ import annotations

import json

from kalloclint.findings import Finding
from kalloclint.report.json import finding_object
from kalloclint.source import LineIndex


def render(findings: list[Finding], indexes: dict[str, LineIndex]) -> str:
    return "".join(json.dumps(finding_object(f, indexes.get(f.path)), ensure_ascii=False) + "\n" for f in findings)


def statistics(rows: list[dict]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)
