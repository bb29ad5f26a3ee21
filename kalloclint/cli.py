"""The command line: `kalloclint [OPTIONS] PATH...`, its options, output and exit codes."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from kalloclint import __version__, baseline, report
from kalloclint.baseline import BaselineError
from kalloclint.changes import ChangesError, changed_lines
from kalloclint.cache import DEFAULT_DIR as DEFAULT_CACHE_DIR
from kalloclint.checks import all_checks, check_by_key
from kalloclint.progress import Progress
from kalloclint.config import ConfigError, Settings, find_config, load_settings
from kalloclint.engine import run
from kalloclint.findings import SEVERITIES
from kalloclint.model import ModelError, load_model
from kalloclint.report.sources import Sources

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def _list(values: list[str] | None) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kalloclint",
        description="Find misuse of the Linux kernel's memory-allocation APIs in C source, without a build.",
        epilog="Exit status: 0 nothing shown, 1 findings shown, 2 usage, configuration or internal error.")
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or directories to check; - reads stdin")
    p.add_argument("--select", action="append", metavar="RULES",
                   help="rules to check: codes, names or prefixes, comma-separated (default: ALL)")
    p.add_argument("--ignore", action="append", metavar="RULES", help="rules not to check")
    p.add_argument("--extend-select", action="append", metavar="RULES", help="rules to add to the selection")
    p.add_argument("--exclude", action="append", metavar="GLOB", help="skip files and directories matching GLOB")
    p.add_argument("--format", choices=report.FORMATS, default="text",
                   help="output format: text (default), json, json-lines, github (workflow commands for "
                        "annotations) or sarif (for code scanning)")
    p.add_argument("--output-file", metavar="FILE", help="write the report to FILE instead of standard output")
    p.add_argument("--min-severity", choices=SEVERITIES, help="hide findings below this severity")
    p.add_argument("--statistics", action="store_true", help="print how many findings each rule produced")
    p.add_argument("--exit-zero", action="store_true", help="exit 0 even when findings are shown")
    p.add_argument("--changed-since", metavar="REV",
                   help="show only findings on lines added or changed since the git revision REV (the whole "
                        "tree is still analysed)")
    p.add_argument("--baseline", metavar="FILE", help="hide the findings recorded in FILE by --write-baseline")
    p.add_argument("--write-baseline", metavar="FILE",
                   help="record every current finding in FILE (for --baseline) and exit 0")
    p.add_argument("--warn-unused-ignores", action="store_true",
                   help="report `kalloclint: ignore[...]` comments that silence nothing")
    p.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1, metavar="N",
                   help="worker processes (default: all cores)")
    p.add_argument("--verbose", action="store_true",
                   help="print how long each phase took, and how much code tree-sitter could not parse, on stderr")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress and no notes about files that could not be fully checked")
    p.add_argument("--cache-dir", metavar="DIR", default=DEFAULT_CACHE_DIR,
                   help=f"where results are cached between runs (default: {DEFAULT_CACHE_DIR})")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.add_argument("--config", metavar="FILE", help="use this configuration file instead of searching")
    p.add_argument("--stdin-filename", metavar="PATH", help="the name to report for source read from stdin")
    p.add_argument("--list-rules", action="store_true", help="list every rule and exit")
    p.add_argument("--explain", metavar="RULE", help="show a rule's documentation and exit")
    p.add_argument("--arch", metavar="PROFILE",
                   help="arch profile of the modelled allocator: x86_64 (default), arm64-4k, arm64-16k, arm64-64k")
    p.add_argument("-I", "--include-dir", action="append", metavar="DIR",
                   help="look for #include files here too (repeatable)")
    p.add_argument("--explain-size", metavar="EXPR",
                   help="fold a size expression (with the macros, enums and structs of the FILE given) and show "
                        "its kmalloc size class, page order and waste, then exit")
    p.add_argument("--fix", action="store_true",
                   help="apply every safe fix, then report what is left")
    p.add_argument("--unsafe-fixes", action="store_true",
                   help="with --fix or --diff, apply the fixes that may change behaviour too")
    p.add_argument("--diff", action="store_true",
                   help="print a unified diff of what --fix would change and write nothing (exit 1 if any)")
    p.add_argument("--version", action="version", version=f"kalloclint {__version__}")
    return p


def _settings(args: argparse.Namespace) -> Settings:
    if args.config:
        config = Path(args.config)
        if not config.is_file():
            raise ConfigError(f"{config}: configuration file not found")
    else:
        start = next((Path(p) for p in args.paths if p != "-"), None) or Path(args.stdin_filename or ".")
        config = find_config(start.resolve() if start.exists() else Path.cwd())
    settings = load_settings(config) if config is not None else Settings()
    if args.select:
        settings.select = _list(args.select)
    settings.ignore += _list(args.ignore)
    settings.extend_select += _list(args.extend_select)
    settings.exclude += _list(args.exclude)
    if args.min_severity:
        settings.min_severity = args.min_severity
    if args.arch:
        settings.arch = args.arch
    settings.include_dirs += args.include_dir or []
    return settings


def list_rules() -> str:
    rows = [f"{c.code}  {c.name:<28} {c.severity:<8} {c.summary()}" for c in all_checks()]
    return "\n".join(rows) + "\n"


def explain(key: str) -> str | None:
    check = check_by_key(key)
    if check is None:
        return None
    return f"# {check.code} {check.name} ({check.severity})\n\n{check.doc()}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    out = sys.stdout
    if args.list_rules:
        out.write(list_rules())
        return EXIT_CLEAN
    if args.explain:
        text = explain(args.explain)
        if text is None:
            print(f"kalloclint: unknown rule '{args.explain}' (see --list-rules)", file=sys.stderr)
            return EXIT_ERROR
        out.write(text)
        return EXIT_CLEAN
    if args.explain_size is not None:
        return _explain_size(args, out)
    if not args.paths:
        parser.print_usage(sys.stderr)
        print("kalloclint: error: give at least one PATH (or - for stdin)", file=sys.stderr)
        return EXIT_ERROR
    if args.statistics and args.format == "sarif":
        print("kalloclint: error: --statistics has no SARIF form; use --format text, json, json-lines or github",
              file=sys.stderr)
        return EXIT_ERROR
    try:
        settings = _settings(args)
        model = load_model(tuple(settings.model_files))
        stdin = None
        paths = [p for p in args.paths if p != "-"]
        if "-" in args.paths:
            stdin = (args.stdin_filename or "<stdin>", sys.stdin.buffer.read())
        baseline_keys = baseline.load(args.baseline) if args.baseline else None
        changed = changed_lines(args.changed_since, (paths or ["."])[0]) if args.changed_since else None
        progress = Progress.if_terminal(args.quiet)
        try:
            result = run(paths, settings, model, stdin=stdin, warn_unused_ignores=args.warn_unused_ignores,
                         jobs=max(1, args.jobs), cache_dir=None if args.no_cache else args.cache_dir,
                         progress=progress)
        finally:
            if progress is not None:
                progress.finish()
    except (ConfigError, ModelError, BaselineError, ChangesError) as exc:
        print(f"kalloclint: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.fix or args.diff:
        fixed = _fix(args, result, settings, model, stdin, out)
        if args.diff or fixed is None:
            return EXIT_ERROR if fixed is None or any(d.fatal for d in result.diagnostics) else \
                EXIT_FINDINGS if fixed else EXIT_CLEAN
        if fixed:
            result = run(paths, settings, model, jobs=max(1, args.jobs),
                         warn_unused_ignores=args.warn_unused_ignores)
    for diagnostic in result.diagnostics:
        if diagnostic.fatal or not args.quiet:
            print(f"kalloclint: {diagnostic}", file=sys.stderr)
    if args.verbose:
        for phase, seconds in result.timings.items():
            print(f"kalloclint: {phase}: {seconds:.2f}s", file=sys.stderr)
        for line in _unparsed_report(result.unparsed, result.checked_bytes):
            print(f"kalloclint: {line}", file=sys.stderr)
    findings = result.findings
    sources = Sources({p: f.index for p, f in result.files.items()}, dict([stdin]) if stdin else None)
    if args.write_baseline:
        try:
            count = baseline.write(args.write_baseline, findings, sources)
        except BaselineError as exc:
            print(f"kalloclint: {exc}", file=sys.stderr)
            return EXIT_ERROR
        print(f"kalloclint: recorded {count} findings in {args.write_baseline}", file=sys.stderr)
        return EXIT_ERROR if any(d.fatal for d in result.diagnostics) else EXIT_CLEAN
    if baseline_keys is not None:
        findings = baseline.hide(findings, args.baseline, baseline_keys, sources)
    if changed is not None:
        findings = [f for f in findings if (f.path, f.location.line) in changed]
    if args.statistics:
        text = report.statistics(args.format, findings)
    else:
        text = report.render(args.format, findings, sources,
                             [(d.path, d.message, d.fatal) for d in result.diagnostics])
    if args.output_file:
        try:
            with open(args.output_file, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            print(f"kalloclint: {args.output_file}: cannot write: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_ERROR
    else:
        out.write(text)
        out.flush()
    if any(d.fatal for d in result.diagnostics):
        return EXIT_ERROR
    if findings and not args.exit_zero:
        return EXIT_FINDINGS
    return EXIT_CLEAN


_WORST_FILES = 10


def _unparsed_report(unparsed: dict[str, tuple[int, int]], checked_bytes: int) -> list[str]:
    """How much code was in tree-sitter ERROR nodes, so not analysed: a total, then the worst files."""
    if not unparsed:
        return []
    total = sum(errors for errors, _ in unparsed.values())
    lines = [f"not parsed (tree-sitter ERROR nodes, not analysed): {total:,} bytes of {checked_bytes:,} "
             f"({100 * total / max(checked_bytes, 1):.2f}%) in {len(unparsed)} file{'s' if len(unparsed) > 1 else ''}"
             + (f", the {_WORST_FILES} worst:" if len(unparsed) > _WORST_FILES else ":")]
    worst = sorted(unparsed.items(), key=lambda item: (-item[1][0], item[0]))[:_WORST_FILES]
    lines += [f"  {path}: {errors:,} bytes ({100 * errors / max(size, 1):.1f}% of the file)"
              for path, (errors, size) in worst]
    return lines


def _fix(args: argparse.Namespace, result, settings: Settings, model, stdin, out) -> int | None:
    """--diff prints the changes, --fix writes them (not for stdin); the number of files changed, or None
    when a file could not be written."""
    from kalloclint import fix
    if args.fix and stdin is not None and not args.diff:
        print("kalloclint: error: --fix cannot write to stdin; use --diff", file=sys.stderr)
        return None
    fixed = fix.fix_findings(result.findings, settings, model, unsafe=args.unsafe_fixes,
                             texts=dict([stdin]) if stdin else None)
    if args.diff:
        out.write(fix.unified_diff(fixed))
        out.flush()
        return len(fixed)
    failed = False
    for f in fixed:
        try:
            fix.write_atomically(f.path, f.after, f.before)
        except OSError as exc:
            print(f"kalloclint: {f.path}: cannot write: {exc.strerror or exc}", file=sys.stderr)
            failed = True
    if fixed and not getattr(args, "quiet", False):
        print(f"kalloclint: applied {sum(f.applied for f in fixed)} fixes in {len(fixed)} files", file=sys.stderr)
    return None if failed else len(fixed)


def _explain_size(args: argparse.Namespace, out) -> int:
    """--explain-size EXPR [FILE]: exit 0 when the expression folds, 1 when it does not, 2 on errors."""
    from kalloclint.engine import Diagnostic, extract_file, sizing
    from kalloclint.explain_size import explain_size
    if len(args.paths) > 1:
        print("kalloclint: error: --explain-size takes at most one FILE", file=sys.stderr)
        return EXIT_ERROR
    try:
        settings = _settings(args)
        model = load_model(tuple(settings.model_files))
        run_sizing = sizing(model, settings)
    except (ConfigError, ModelError) as exc:
        print(f"kalloclint: {exc}", file=sys.stderr)
        return EXIT_ERROR
    facts = None
    if args.paths:
        facts = extract_file(args.paths[0], model)
        if isinstance(facts, Diagnostic):
            print(f"kalloclint: {facts}", file=sys.stderr)
            return EXIT_ERROR
    text, known = explain_size(args.explain_size, run_sizing, facts)
    out.write(text)
    return EXIT_CLEAN if known else EXIT_FINDINGS


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
