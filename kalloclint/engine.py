"""The run: files -> facts -> project index -> checks -> suppressions and selection -> findings."""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import gc
import multiprocessing
import os
import stat
import sys
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field

from kalloclint.analysis.context import FileContext
from kalloclint.analysis.crossfile import foreign_lock_effects, wrappers_called
from kalloclint.analysis.locks import LockEffect
from kalloclint.analysis.summary import FileSummary, build_summary
from kalloclint.analysis.wholetree import Tree
from kalloclint.budget import RULE_SECONDS, OverBudget, time_budget
from kalloclint.cache import Cache
from kalloclint.analysis.scope import Headers
from kalloclint.analysis.sizing import Sizing
from kalloclint.checks import Check, all_checks
from kalloclint.config import ConfigError, Settings
from kalloclint.findings import Finding, severity_rank
from kalloclint.frontend.extract import extract
from kalloclint.frontend.facts import FileFacts, Suppression
from kalloclint.model import Model
from kalloclint.source import (MAX_FILE_BYTES, LineIndex, Location, SourceError, SourceFile, read_source,
                               source_from_bytes)

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
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase, for --verbose
    unparsed: dict[str, tuple[int, int]] = field(default_factory=dict)  # path -> (bytes in ERROR nodes, size)
    checked_bytes: int = 0  # size of the files checked, for --verbose
    findings: list[Finding] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    files: dict[str, FileFacts] = field(default_factory=dict)  # files with findings: path and line index


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


def extract_file(path: str, model: Model, data: bytes | None = None, source: SourceFile | None = None,
                 declarations_only: bool = False) -> FileFacts | Diagnostic:
    """Facts for one file, or the one-line reason it could not be checked."""
    try:
        if source is None:
            source = source_from_bytes(path, data) if data is not None else read_source(path)
    except SourceError as exc:
        return Diagnostic(path, str(exc))
    try:
        return extract(source, model, declarations_only)
    except RecursionError:
        return Diagnostic(path, "nested too deeply to analyse, skipped")
    except Exception as exc:  # an internal error must not stop the run
        return _internal_error(path, exc)


def _internal_error(path: str, exc: Exception) -> Diagnostic:
    if os.environ.get("KALLOCLINT_DEBUG"):
        traceback.print_exc(file=sys.stderr)
    return Diagnostic(path, f"internal error in kalloclint ({type(exc).__name__}: {exc}); please report it",
                      fatal=True)


@dataclass(slots=True)
class _Job:
    """What every file of a run is checked with; forked workers inherit it instead of unpickling it."""

    model: Model
    settings: Settings
    checks: list[Check]
    summarise: bool  # some selected rule needs the whole-tree phase
    sizing: Sizing | None = None
    cache: Cache | None = None
    foreign: dict[str, dict[str, LockEffect]] = dataclasses.field(default_factory=dict)  # path -> wrappers


@dataclass(slots=True)
class _FileResult:
    path: str
    findings: list[Finding]
    diagnostics: list[Diagnostic]
    index: LineIndex | None  # kept only when there are findings, for reporters that need positions
    suppressions: tuple[Suppression, ...] = ()
    suppression_locations: tuple[Location, ...] = ()
    used: frozenset[int] = frozenset()  # suppressions that silenced a finding
    summary: FileSummary | None = None
    size: int = 0
    error_bytes: int = 0  # bytes of the file in tree-sitter ERROR nodes: not analysed


_JOB: _Job | None = None
_PARALLEL_MIN_FILES = 8


def _check_one(item: tuple[str, bytes | None]) -> _FileResult:
    """Extract, check and summarise one file (or take the cached result); only findings and the summary
    leave the worker."""
    path, data = item
    job = _JOB
    try:
        source = source_from_bytes(path, data) if data is not None else read_source(path)
    except SourceError as exc:
        return _FileResult(path, [], [Diagnostic(path, str(exc))], None)
    cache = job.cache if data is None else None
    key = _cache_key(path, source.data, job) if cache is not None else ""
    result = cache.load(key) if cache is not None else None
    if result is None:
        result, headers = _analyse(source, job, on_disk=data is None)
        if cache is not None and not any(d.fatal for d in result.diagnostics):
            cache.store(key, headers, result)
    return _finished(result, job.settings)


def _cache_key(path: str, data: bytes, job: _Job) -> str:
    """The file's key: its bytes, and the other files' lock wrappers it was checked with, if any."""
    extra = job.foreign.get(path)
    return job.cache.key(path, data + b"\0" + repr(sorted(extra.items())).encode() if extra else data)


def _finished(result: _FileResult, settings: Settings) -> _FileResult:
    result.findings = _selected(result.path, result.findings, settings)
    if not result.findings:
        result.index = None
    return result


def _cached(path: str) -> _FileResult | None:
    """A file's result from the cache, read in this process, or None (a miss, or the file cannot be read:
    the worker that checks it says why)."""
    job = _JOB
    try:  # without blocking on a FIFO: only a regular file can have an entry
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_FILE_BYTES:
                return None
            data = fh.read(MAX_FILE_BYTES + 1)
        except OSError:
            return None
    result = job.cache.load(_cache_key(path, data, job))
    return _finished(result, job.settings) if result is not None else None


def _extract_input(source: SourceFile, job: _Job, on_disk: bool) -> FileFacts | Diagnostic:
    """Facts for a file being checked. A header is also read for the sizes of the files that include it:
    when it is checked first, those files take its facts instead of parsing it again (not for an editor's
    unsaved text, which differs from the file). Read first for its declarations only, it is extracted
    again in full to be checked."""
    headers = job.sizing.headers if job.sizing is not None else None
    if headers is None or not on_disk or not source.path.endswith(".h"):
        return extract_file(source.path, job.model, source=source)
    real = os.path.realpath(source.path)
    known = headers.known.get(real)
    if known is not None and not known.declarations_only:
        return dataclasses.replace(known, path=source.path)
    facts = extract_file(source.path, job.model, source=source)
    if isinstance(facts, FileFacts) and (real in headers.known or len(headers.known) < headers.limit):
        headers.known[real] = dataclasses.replace(facts, path=real)
    return facts


def _analyse(source: SourceFile, job: _Job, on_disk: bool = False) -> tuple[_FileResult, list[str]]:
    """The uncached work for one file: findings after suppressions, and its summary."""
    path = source.path
    facts = _extract_input(source, job, on_disk)
    if isinstance(facts, Diagnostic):
        return _FileResult(path, [], [facts], None), []
    diagnostics = [Diagnostic(path, w) for w in facts.warnings]
    ctx = FileContext(facts, job.model, sizing=job.sizing, foreign_effects=job.foreign.get(path, {}))
    raw = _check_file(ctx, job.checks, diagnostics)
    summary = None
    if job.summarise:
        try:
            with time_budget():
                summary = build_summary(ctx)
        except OverBudget:
            diagnostics.append(Diagnostic(path, f"summary for the whole-tree rules gave up after {RULE_SECONDS:.0f} s"))
        except RecursionError:
            diagnostics.append(Diagnostic(path, "nested too deeply to summarise for the whole-tree rules"))
        except Exception as exc:  # an internal error must not stop the run
            diagnostics.append(_internal_error(f"{path} (summary)", exc))
    kept, used = _apply_suppressions(facts.suppressions, raw)
    result = _FileResult(path, kept, diagnostics, facts.index if kept else None, facts.suppressions,
                         tuple(facts.index.locate(sup.span) for sup in facts.suppressions), used, summary,
                         len(source.data), facts.error_bytes)
    return result, ctx.headers_read()


_GC_THRESHOLDS = (50_000, 20, 100)


def _fewer_collections(fn):
    """Run with the cyclic garbage collector triggered less often (workers inherit it when forked). Facts
    and summaries are millions of small acyclic objects: at the default thresholds the collector kept
    re-scanning them, a quarter of the CPU time; reference counting still frees them as before."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        old = gc.get_threshold()
        gc.set_threshold(*_GC_THRESHOLDS)
        try:
            return fn(*args, **kwargs)
        finally:
            gc.set_threshold(*old)
    return wrapper


@_fewer_collections
def run(paths: list[str], settings: Settings, model: Model, stdin: tuple[str, bytes] | None = None,
        warn_unused_ignores: bool = False, jobs: int = 1, cache_dir: str | None = None,
        progress=None) -> RunResult:
    """Check every file under `paths` (and `stdin`) with `jobs` worker processes, then run the rules
    that need the whole tree over the files' summaries."""
    global _JOB
    result = RunResult()
    codes = selected_codes(settings)
    for selectors in settings.per_file_ignores.values():  # report a bad selector once, up front
        resolve_selectors(selectors, f"{settings.source}: per-file-ignores")
    files, result.diagnostics = collect_files(paths, settings.exclude)
    inputs: list[tuple[str, bytes | None]] = [(f, None) for f in files]
    if stdin is not None:
        inputs.append(stdin)
    checks = [c for c in all_checks() if c.code in codes]
    tree_checks = [c for c in checks if c.uses_tree()]
    run_sizing = sizing(model, settings)
    cache = None
    if cache_dir is not None:
        settings_key = repr((sorted(c.code for c in checks), settings.arch, tuple(settings.include_dirs)))
        cache = Cache.for_run(cache_dir, model.digest, settings_key)
    _JOB = _Job(model, settings, checks, bool(tree_checks), run_sizing, cache)
    file_results: dict[str, _FileResult] = {}
    shared: dict = {}  # one copy of each callee name and argument tuple for the whole run
    started = time.perf_counter()
    try:
        for done, file_result in enumerate(_map(inputs, jobs), start=1):
            if progress is not None:
                progress(done, len(inputs))
            if file_result.summary is not None:
                file_result.summary = _compact(file_result.summary, shared)
            file_results[file_result.path] = file_result
        # input order, whichever came first (the cache, then the workers): later phases see the same order
        file_results = {path: file_results[path] for path, _ in inputs if path in file_results}
        result.timings["files"] = time.perf_counter() - started
        if tree_checks:
            started = time.perf_counter()
            rechecked = _recheck_with_wrappers(file_results, inputs, shared, jobs)
            result.timings[f"files again with other files' lock wrappers ({rechecked})"] = \
                time.perf_counter() - started
    finally:
        _JOB = None
    for path, file_result in file_results.items():
        result.findings.extend(file_result.findings)
        result.diagnostics.extend(file_result.diagnostics)
        result.checked_bytes += file_result.size
        if file_result.error_bytes:
            result.unparsed[path] = (file_result.error_bytes, file_result.size)
        if file_result.index is not None:
            result.files[path] = FileFacts(path, file_result.index)
    used = {path: set(r.used) for path, r in file_results.items()}
    if tree_checks:
        started = time.perf_counter()
        result.findings.extend(_tree_findings(file_results, used, tree_checks, model, settings, result))
        result.timings["whole tree"] = time.perf_counter() - started
    if warn_unused_ignores:
        for path, r in file_results.items():
            for i, (sup, location) in enumerate(zip(r.suppressions, r.suppression_locations)):
                if i not in used[path]:
                    result.findings.append(Finding("KAL000", UNUSED_IGNORE, "warning",
                                                   f"suppression '{', '.join(sup.codes)}' silences nothing",
                                                   path, sup.span, location))
    result.findings.sort(key=Finding.sort_key)
    return result


def _recheck_with_wrappers(file_results: dict[str, _FileResult], inputs: list[tuple[str, bytes | None]],
                           shared: dict, jobs: int) -> int:
    """Check again, once, the files that call a lock wrapper defined in another file, with the wrappers'
    effects: what is held at their calls, and so their findings and summaries, may change. Returns how
    many files were checked again."""
    table = foreign_lock_effects(r.summary for r in file_results.values() if r.summary is not None)
    if not table:
        return 0
    for path, r in file_results.items():
        if r.summary is not None:
            found = wrappers_called(r.summary, table)
            if found:
                _JOB.foreign[path] = found
    again = [item for item in inputs if item[0] in _JOB.foreign]
    for file_result in _map(again, jobs):
        if file_result.summary is not None:
            file_result.summary = _compact(file_result.summary, shared)
        file_results[file_result.path] = file_result
    return len(again)


def _compact(summary: FileSummary, shared: dict) -> FileSummary:
    """An equal summary whose repeated values (callee and function names, parameter and argument tuples)
    are one object for the whole run: every file's summary stays in this process until the whole-tree
    phase, and unpickled from a worker each of them would be a copy of its own."""
    one = shared.setdefault
    functions = tuple(
        f._replace(name=one(f.name, f.name), params=one(f.params, f.params),
                   sites=tuple(s._replace(callee=one(s.callee, s.callee), args=one(s.args, s.args)) for s in f.sites))
        for f in summary.functions)
    return summary._replace(functions=functions)


def _tree_findings(file_results: dict[str, _FileResult], used: dict[str, set[int]], checks: list[Check],
                   model: Model, settings: Settings, result: RunResult) -> list[Finding]:
    tree = Tree([r.summary for r in file_results.values() if r.summary is not None], model)
    found: dict[str, list[Finding]] = {}
    for check in checks:
        try:
            for finding in check.run_tree(tree):
                found.setdefault(finding.path, []).append(finding)
        except Exception as exc:  # one broken rule must not hide the others
            result.diagnostics.append(_internal_error(f"whole-tree phase ({check.code})", exc))
    out = []
    for path, findings in found.items():
        r = file_results[path]
        kept, silenced = _apply_suppressions(r.suppressions, findings)
        used[path] |= silenced
        out.extend(_selected(path, kept, settings))
    return out


def _selected(path: str, findings: list[Finding], settings: Settings) -> list[Finding]:
    """Findings that survive per-file-ignores and the minimum severity."""
    ignored = _per_file_ignored(path, settings)
    min_rank = severity_rank(settings.min_severity)
    return [f for f in findings if f.code not in ignored and severity_rank(f.severity) >= min_rank]


def _map(inputs: list[tuple[str, bytes | None]], jobs: int):
    """Every input's result: first what the cache holds, read here as it is found (a worker would read and
    unpickle the entry, then pickle it again to send it back), then the rest, checked by `jobs` worker
    processes. Not in input order: the caller puts the results back in it."""
    cache = _JOB.cache
    missed = inputs
    if cache is not None and _has_entries(cache.directory):
        missed = []
        for path, data in inputs:
            hit = _cached(path) if data is None else None
            if hit is not None:
                yield hit
            else:
                missed.append((path, data))
    yield from _checked(missed, jobs)


def _has_entries(directory: str) -> bool:
    try:
        with os.scandir(directory) as entries:
            return any(e.is_dir() for e in entries)
    except OSError:
        return False


def _checked(inputs: list[tuple[str, bytes | None]], jobs: int):
    if not inputs:
        return
    if jobs <= 1 or len(inputs) < _PARALLEL_MIN_FILES:
        yield from map(_check_one, inputs)
        return
    # What this process holds (by a second pass, every file's summary) is shared with the forked workers
    # until written to; frozen, the workers' garbage collector does not visit (and so copy) it.
    gc.freeze()
    try:
        with multiprocessing.get_context("fork").Pool(min(jobs, len(inputs))) as pool:
            yield from pool.imap(_check_one, inputs, chunksize=4)
    finally:
        gc.unfreeze()


def sizing(model: Model, settings: Settings) -> Sizing:
    """The modelled allocator for a run: the configured arch profile and include directories; headers
    are extracted on demand, once per worker process."""
    profile = model.arch.profile(settings.arch)
    if profile is None:
        raise ConfigError(f"{settings.source or 'command line'}: arch: unknown profile '{settings.arch}' "
                          f"(known: {', '.join(model.arch.names())})")

    def header(path: str) -> FileFacts | None:
        facts = extract_file(path, model, declarations_only=True)
        return facts if isinstance(facts, FileFacts) else None

    return Sizing.build(model, profile, Headers(header, tuple(settings.include_dirs)))


def _check_file(ctx: FileContext, checks: list[Check], diagnostics: list[Diagnostic]) -> list[Finding]:
    facts = ctx.facts
    found: list[Finding] = []
    for check in checks:
        try:
            with time_budget():
                found.extend(check.run(ctx))
        except OverBudget:
            diagnostics.append(Diagnostic(facts.path, f"{check.code} gave up on this file after "
                                                      f"{RULE_SECONDS:.0f} s; its findings here are missing"))
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


def _apply_suppressions(suppressions: tuple[Suppression, ...],
                        findings: list[Finding]) -> tuple[list[Finding], frozenset[int]]:
    """Drop findings silenced by `kalloclint: ignore[...]` on their line or the line before, or by
    `ignore-file[...]`; also say which suppressions silenced something."""
    used: set[int] = set()
    kept = []
    for finding in findings:
        silenced = False
        for i, sup in enumerate(suppressions):
            if (sup.whole_file or sup.line in (finding.location.line, finding.location.line - 1)) and \
                    any(_matches(code, finding) for code in sup.codes):
                used.add(i)
                silenced = True
        if not silenced:
            kept.append(finding)
    return kept, frozenset(used)
