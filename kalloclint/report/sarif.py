"""The SARIF 2.1.0 format, shaped for GitHub code scanning: rule metadata from the rules' docstrings,
paths relative to %SRCROOT% (the working directory), line fingerprints, call chains as code flows."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from kalloclint import __version__
from kalloclint.checks import Check, all_checks
from kalloclint.findings import Finding, Fix, Related
from kalloclint.report.linehash import line_hashes
from kalloclint.report.sources import Sources, path_uri, relative_path
from kalloclint.source import Location

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
INFORMATION_URI = "https://github.com/kalloclint/kalloclint"
SRCROOT = "%SRCROOT%"
LEVELS = {"error": "error", "warning": "warning", "info": "note"}
PROBLEM_SEVERITIES = {"error": "error", "warning": "warning", "info": "recommendation"}
FAMILY_TAGS = {"KAL0": "suppression", "KAL1": "atomic-context", "KAL2": "allocation-size", "KAL3": "lifetime",
               "KAL4": "preferred-api", "KAL5": "gfp-flags"}
DEFAULT_PRECISION = "high"  # a rule may say otherwise with a `precision` class attribute

UNUSED_IGNORE_WHAT = ("Finds `kalloclint: ignore[...]` and `ignore-file[...]` comments that silence no finding "
                      "(reported with `--warn-unused-ignores`).")
UNUSED_IGNORE_DOC = f"""\
## What it does
{UNUSED_IGNORE_WHAT}

## Why is this bad?
A suppression that no longer applies hides the next real finding on its line, and tells readers about
a problem that is gone.

## Use instead
Delete the comment, or narrow it to the rules that still fire there.
"""


def _rule(code: str, name: str, severity: str, summary: str, doc: str, what: str, precision: str) -> dict:
    return {
        "id": code,
        "name": name,
        "shortDescription": {"text": summary},
        "fullDescription": {"text": what},
        "help": {"text": doc, "markdown": doc},
        "defaultConfiguration": {"level": LEVELS[severity]},
        "properties": {
            "tags": ["correctness", *([FAMILY_TAGS[code[:4]]] if code[:4] in FAMILY_TAGS else [])],
            "precision": precision,
            "problem.severity": PROBLEM_SEVERITIES[severity],
        },
    }


def rule_descriptors(checks: Iterable[Check] | None = None) -> list[dict]:
    """A reportingDescriptor for every rule, plus KAL000 for unused suppressions."""
    rules = [_rule("KAL000", "unused-ignore", "warning", "A suppression comment that silences nothing.",
                   UNUSED_IGNORE_DOC, UNUSED_IGNORE_WHAT, "very-high")]
    for check in checks if checks is not None else all_checks():
        what = " ".join(check.section("What it does").split()) or check.summary()
        rules.append(_rule(check.code, check.name, check.severity, check.summary(), check.doc(), what,
                           getattr(check, "precision", DEFAULT_PRECISION)))
    return rules


class _Writer:
    def __init__(self, sources: Sources, root: str):
        self.sources = sources
        self.root = root
        self._hashes: dict[str, list[str] | None] = {}

    def artifact(self, path: str) -> dict:
        rel = relative_path(path, self.root)
        if rel == ".." or rel.startswith("../") or os.path.isabs(rel):
            return {"uri": Path(os.path.abspath(path)).as_uri()}
        return {"uri": path_uri(rel), "uriBaseId": SRCROOT}

    def physical(self, path: str, loc: Location) -> dict:
        region = {"startLine": loc.line, "startColumn": loc.col}
        if (loc.end_line, loc.end_col) != (loc.line, loc.col):  # no end: the rest of the line
            region.update(endLine=loc.end_line, endColumn=loc.end_col)
        return {"artifactLocation": self.artifact(path), "region": region}

    def fingerprint(self, path: str, line: int) -> str | None:
        if path not in self._hashes:
            text = self.sources.text(path)
            self._hashes[path] = None if text is None else line_hashes(text)
        hashes = self._hashes[path]
        return hashes[line - 1] if hashes is not None and 1 <= line <= len(hashes) else None

    def related(self, items: tuple[Related, ...]) -> list[dict]:
        return [{"id": i, "physicalLocation": self.physical(r.path, r.location), "message": {"text": r.message}}
                for i, r in enumerate(items, 1)]

    def code_flow(self, items: tuple[Related, ...]) -> dict:
        """The hops of a chain, in order, as one thread of execution."""
        return {"threadFlows": [{"locations": [
            {"location": {"physicalLocation": self.physical(r.path, r.location), "message": {"text": r.message}}}
            for r in items]}]}

    def fix(self, finding: Finding, fix: Fix) -> dict | None:
        index = self.sources.index(finding.path)
        if index is None:
            return None
        replacements = []
        for edit in fix.edits:
            start, end = index.position(edit.start), index.position(edit.end)
            replacements.append({
                "deletedRegion": {"startLine": start[0], "startColumn": start[1], "endLine": end[0],
                                  "endColumn": end[1]},
                "insertedContent": {"text": edit.text},
            })
        return {"description": {"text": fix.description},
                "artifactChanges": [{"artifactLocation": self.artifact(finding.path), "replacements": replacements}],
                "properties": {"applicability": fix.applicability}}

    def result(self, finding: Finding, rule_index: dict[str, int]) -> dict:
        result = {
            "ruleId": finding.code,
            "ruleIndex": rule_index[finding.code],
            "level": LEVELS[finding.severity],
            "message": {"text": finding.message},
            "locations": [{"physicalLocation": self.physical(finding.path, finding.location)}],
        }
        fingerprint = self.fingerprint(finding.path, finding.location.line)
        if fingerprint is not None:
            result["partialFingerprints"] = {"primaryLocationLineHash": fingerprint}
        if finding.related:
            result["relatedLocations"] = self.related(finding.related)
            if len(finding.related) > 1:
                result["codeFlows"] = [self.code_flow(finding.related)]
        if finding.fix is not None:
            fix = self.fix(finding, finding.fix)
            if fix is not None:
                result["fixes"] = [fix]
        return result


def render(findings: list[Finding], sources: Sources, notifications: Iterable[tuple[str, str, bool]] = (),
           root: str | None = None) -> str:
    """One SARIF log with one run. `notifications` are (path, message, fatal) for files that could not be
    (fully) checked; `root` is what relative URIs are relative to (default: the working directory)."""
    root = os.path.abspath(root or os.getcwd())
    rules = rule_descriptors()
    rule_index = {rule["id"]: i for i, rule in enumerate(rules)}
    writer = _Writer(sources, root)
    notes = [{"level": "error" if fatal else "warning", "message": {"text": message},
              "locations": [{"physicalLocation": {"artifactLocation": writer.artifact(path)}}]}
             for path, message, fatal in notifications]
    invocation = {"executionSuccessful": not any(fatal for _, _, fatal in notifications)}
    if notes:
        invocation["toolExecutionNotifications"] = notes
    log = {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "kalloclint", "version": __version__, "semanticVersion": __version__,
                                "informationUri": INFORMATION_URI, "rules": rules}},
            "invocations": [invocation],
            "originalUriBaseIds": {SRCROOT: {"uri": Path(root).as_uri().rstrip("/") + "/"}},
            "columnKind": "unicodeCodePoints",
            "results": [writer.result(f, rule_index) for f in findings],
        }],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"
