"""Baselines for legacy code: `--write-baseline FILE` records today's findings, `--baseline FILE` hides them.

An entry is keyed by the rule's code, the file's path relative to the baseline, the text of the
finding's line with its whitespace normalised, and which occurrence of that (code, path, text) it is
in the file, counted from the top. Line numbers are not part of the key, so edits elsewhere that move
lines keep old findings hidden; a finding on a new or changed line has a key the baseline does not
hold, and so does one more occurrence of an old line, so nothing new is ever hidden.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator

from kalloclint import __version__
from kalloclint.findings import Finding
from kalloclint.report.sources import Sources, relative_path

FORMAT_KEY = "kalloclint-baseline"
FORMAT_VERSION = 1

Key = tuple[str, str, str, int]  # code, path, normalised line text, occurrence


class BaselineError(Exception):
    """A baseline file that cannot be read or is not one; the message is the one line shown to the user."""


def normalise(text: str | None) -> str:
    return " ".join((text or "").split())


def keyed(findings: list[Finding], sources: Sources, base: str) -> Iterator[tuple[Finding, Key]]:
    """Each finding with its key; occurrences are counted over all of `findings` in file order."""
    seen: Counter = Counter()
    for finding in sorted(findings, key=Finding.sort_key):
        stem = (finding.code, relative_path(finding.path, base), normalise(sources.line(finding.path,
                                                                                       finding.location.line)))
        seen[stem] += 1
        yield finding, (*stem, seen[stem])


def _base(baseline_file: str) -> str:
    return os.path.dirname(os.path.abspath(baseline_file))


def write(baseline_file: str, findings: list[Finding], sources: Sources) -> int:
    """Record `findings` in `baseline_file` (replacing it); returns how many were recorded."""
    entries = [{"code": code, "path": path, "text": text, "occurrence": n, "message": f.message}
               for f, (code, path, text, n) in keyed(findings, sources, _base(baseline_file))]
    entries.sort(key=lambda e: (e["path"], e["code"], e["text"], e["occurrence"]))
    document = {FORMAT_KEY: FORMAT_VERSION, "tool": f"kalloclint {__version__}", "findings": entries}
    tmp = f"{baseline_file}.tmp{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(document, fh, indent=2, ensure_ascii=False)
            fh.write("\n")
        os.replace(tmp, baseline_file)
    except OSError as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise BaselineError(f"{baseline_file}: cannot write the baseline: {exc.strerror or exc}") from None
    return len(entries)


def load(baseline_file: str) -> set[Key]:
    try:
        with open(baseline_file, encoding="utf-8") as fh:
            document = json.load(fh)
    except OSError as exc:
        raise BaselineError(f"{baseline_file}: cannot read the baseline: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BaselineError(f"{baseline_file}: not a kalloclint baseline (not valid JSON: {exc})") from None
    if not isinstance(document, dict) or document.get(FORMAT_KEY) != FORMAT_VERSION \
            or not isinstance(document.get("findings"), list):
        raise BaselineError(f"{baseline_file}: not a kalloclint baseline (write one with --write-baseline)")
    keys: set[Key] = set()
    for i, entry in enumerate(document["findings"]):
        try:
            key = (entry["code"], entry["path"], entry["text"], entry["occurrence"])
        except (TypeError, KeyError):
            raise BaselineError(f"{baseline_file}: entry {i + 1} lacks code, path, text or occurrence") from None
        if not all(isinstance(v, str) for v in key[:3]) or not isinstance(key[3], int):
            raise BaselineError(f"{baseline_file}: entry {i + 1} has a value of the wrong type")
        keys.add(key)
    return keys


def hide(findings: list[Finding], baseline_file: str, keys: set[Key], sources: Sources) -> list[Finding]:
    """`findings` without those the baseline records, in their original order."""
    hidden = {id(f) for f, key in keyed(findings, sources, _base(baseline_file)) if key in keys}
    return [f for f in findings if id(f) not in hidden]
