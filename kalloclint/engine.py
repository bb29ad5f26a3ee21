"""The run: files -> facts -> project index -> checks -> suppressions and selection -> findings."""

from __future__ import annotations

import fnmatch
import os
import stat
import sys
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field

from kalloclint.analysis.context import FileContext
from kalloclint.analysis.project import ProjectIndex
from kalloclint.checks import Check, all_checks
from kalloclint.config import ConfigError, Settings
from kalloclint.findings import Finding, severity_rank
from kalloclint.frontend.extract import extract
from kalloclint.frontend.facts import FileFacts
from kalloclint.model import Model
from kalloclint.source import SourceError, SourceFile, read_source, source_from_bytes

SOURCE_SUFFIXES = (".c", ".h")
UNUSED_IGNORE = "unused-ignore"


@dataclass(slots=True)
class Diagnostic:
    """A one-line message about a file or path that could not be (fully) checked."""

    path: str
    message: str
    fatal: bool = False  # makes the exit code 2: a missing path or an internal error

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(slots=True)
class RunResult:
    findings: list[Finding] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    files: dict[str, FileFacts] = field(default_factory=dict)


# -- rule selection --------------------------------------------------------------------------------


def resolve_selectors(selectors: Iterable[str], what: str) -> set[str]:
    """Rule codes named by codes, names, prefixes (KAL2) or ALL; an unknown selector is an error."""
    codes: set[str] = set()
    for raw in selectors:
        key = raw.strip()
        matched = {c.code for c in all_checks()
                   if key.upper() == "ALL" or c.name == key.lower() or c.code.startswith(key.upper())}
        if not key or not matched:
            raise ConfigError(f"{what}: unknown rule '{raw}' (use a code like KAL201, a name like "
                              f"alloc-size-multiply, a prefix like KAL2, or ALL)")
        codes |= matched
    return codes


def selected_codes(settings: Settings) -> set[str]:
    origin = settings.source or "command line"
    chosen = resolve_selectors(settings.select, f"{origin}: select")
    chosen |= resolve_selectors(settings.extend_select, f"{origin}: extend-select")
    return chosen - resolve_selectors(settings.ignore, f"{origin}: ignore")


# -- files -----------------------------------------------------------------------------------------


def collect_files(paths: Iterable[str], exclude: list[str]) -> tuple[list[str], list[Diagnostic]]:
    """*.c and *.h below the given paths, in a stable order; symbolic links are not followed into."""
    files: list[str] = []
    problems: list[Diagnostic] = []
    for path in paths:
        if _excluded(path, exclude):
            continue
        try:
            st = os.lstat(path)
        except OSError:
            problems.append(Diagnostic(path, "no such file or directory", fatal=True))
            continue
        if stat.S_ISDIR(st.st_mode):
            files.extend(_walk(path, exclude, problems))
        else:
            files.append(path)  # named explicitly: checked whatever its suffix, or explained
    return files, problems


def _walk(root: str, exclude: list[str], problems: list[Diagnostic]) -> list[str]:
    found = []

    def onerror(exc: OSError) -> None:
        problems.append(Diagnostic(exc.filename or root, f"cannot list directory: {exc.strerror}"))

    for directory, dirs, names in os.walk(root, onerror=onerror):
        dirs[:] = sorted(d for d in dirs if not _excluded(os.path.join(directory, d), exclude)
                         and not os.path.islink(os.path.join(directory, d)))
        for name in sorted(names):
            if not name.endswith(SOURCE_SUFFIXES):
                continue
            path = os.path.join(directory, name)
            if _excluded(path, exclude):
                continue
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISLNK(st.st_mode):
                continue  # not followed: a link may point outside the tree or into a loop
            if not stat.S_ISREG(st.st_mode):
                problems.append(Diagnostic(path, "not a regular file (FIFO, socket or device), skipped"))
                continue
            found.append(path)
    return found


def _excluded(path: str, patterns: list[str]) -> bool:
    if not patterns:
        return False
    norm = os.path.normpath(path)
    parts = norm.split(os.sep)
    return any(fnmatch.fnmatch(norm, p) or any(fnmatch.fnmatch(part, p) for part in parts) for p in patterns)


# -- the run ---------------------------------------------------------------------------------------


def extract_file(path: str, model: Model, data: bytes | None = None) -> FileFacts | Diagnostic:
    """Facts for one file, or the one-line reason it could not be checked."""
    try:
        source: SourceFile = source_from_bytes(path, data) if data is not None else read_source(path)
    except SourceError as exc:
        return Diagnostic(path, str(exc))
    try:
        return extract(source, model)
    except RecursionError:
        return Diagnostic(path, "nested too deeply to analyse, skipped")
    except Exception as exc:  # an internal error must not stop the run
        return _internal_error(path, exc)


def _internal_error(path: str, exc: Exception) -> Diagnostic:
    if os.environ.get("KALLOCLINT_DEBUG"):
        traceback.print_exc(file=sys.stderr)
    return Diagnostic(path, f"internal error in kalloclint ({type(exc).__name__}: {exc}); please report it",
                      fatal=True)


def run(paths: list[str], settings: Settings, model: Model, stdin: tuple[str, bytes] | None = None,
        warn_unused_ignores: bool = False) -> RunResult:
    result = RunResult()
    codes = selected_codes(settings)
    files, result.diagnostics = collect_files(paths, settings.exclude)
    inputs: list[tuple[str, bytes | None]] = [(f, None) for f in files]
    if stdin is not None:
        inputs.append(stdin)
    for path, data in inputs:
        facts = extract_file(path, model, data)
        if isinstance(facts, Diagnostic):
            result.diagnostics.append(facts)
            continue
        result.files[path] = facts
        result.diagnostics.extend(Diagnostic(path, w) for w in facts.warnings)
    project = ProjectIndex.build(result.files.values())
    checks = [c for c in all_checks() if c.code in codes]
    min_rank = severity_rank(settings.min_severity)
    for path, facts in result.files.items():
        raw = _check_file(facts, model, project, checks, result.diagnostics)
        kept = _apply_suppressions(facts, raw, warn_unused_ignores)
        ignored = _per_file_ignored(path, settings)
        result.findings.extend(f for f in kept
                               if f.code not in ignored and severity_rank(f.severity) >= min_rank)
    result.findings.sort(key=Finding.sort_key)
    return result


def _check_file(facts: FileFacts, model: Model, project: ProjectIndex, checks: list[Check],
                diagnostics: list[Diagnostic]) -> list[Finding]:
    ctx = FileContext(facts, model, project)
    found: list[Finding] = []
    for check in checks:
        try:
            found.extend(check.run(ctx))
        except Exception as exc:  # one broken rule must not hide the others
            diagnostics.append(_internal_error(f"{facts.path} ({check.code})", exc))
    return found


def _per_file_ignored(path: str, settings: Settings) -> set[str]:
    ignored: set[str] = set()
    for glob, selectors in settings.per_file_ignores.items():
        if fnmatch.fnmatch(path, glob) or fnmatch.fnmatch(os.path.normpath(path), glob) \
                or fnmatch.fnmatch(os.path.basename(path), glob):
            ignored |= resolve_selectors(selectors, f"{settings.source}: per-file-ignores '{glob}'")
    return ignored


def _matches(selector: str, finding: Finding) -> bool:
    s = selector.strip()
    return s.upper() == "ALL" or s.upper() == finding.code or s.lower() == finding.name \
        or (len(s) >= 3 and finding.code.startswith(s.upper()))


def _apply_suppressions(facts: FileFacts, findings: list[Finding], report_unused: bool) -> list[Finding]:
    """Drop findings silenced by `kalloclint: ignore[...]` on their line or the line before, or by
    `ignore-file[...]`; with `report_unused`, report the suppressions that silenced nothing."""
    used: set[int] = set()
    kept = []
    for finding in findings:
        silenced = False
        for i, sup in enumerate(facts.suppressions):
            if (sup.whole_file or sup.line in (finding.location.line, finding.location.line - 1)) and \
                    any(_matches(code, finding) for code in sup.codes):
                used.add(i)
                silenced = True
        if not silenced:
            kept.append(finding)
    if report_unused:
        for i, sup in enumerate(facts.suppressions):
            if i not in used:
                kept.append(Finding("KAL000", UNUSED_IGNORE, "warning",
                                    f"suppression '{', '.join(sup.codes)}' silences nothing",
                                    facts.path, sup.span, facts.index.locate(sup.span)))
    return kept
