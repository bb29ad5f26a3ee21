"""Benchmark kalloclint on a real kernel tree against the bare tree-sitter parse and the kernel's own tools.

Usage:  python3 bench/run.py [--tree DIR] [--subdir drivers/net/ethernet] [-j 2] [--skip-tools]

Prints one Markdown table of wall times and ratios, measured in the same run on the same machine:
the tree-sitter parse floor (every .c/.h file parsed once, same job count), kalloclint cold (empty
cache), kalloclint warm after a one-file edit, and, when installed, the kernel's Coccinelle scripts
(spatch) and checkpatch.pl's allocation checks on the same files. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the kalloclint checkout being measured
sys.path.insert(0, str(ROOT))

COCCI = ["scripts/coccinelle/locks/call_kern.cocci", "scripts/coccinelle/api/kfree_mismatch.cocci",
         "scripts/coccinelle/free/devm_free.cocci", "scripts/coccinelle/api/alloc/zalloc-simple.cocci"]
CHECKPATCH_TYPES = "ALLOC_ARRAY_ARGS,ALLOC_SIZEOF_STRUCT,ALLOC_WITH_MULTIPLY,OOM_MESSAGE,KREALLOC_ARG_REUSE"


def default_tree() -> Path:
    """The Debian linux-source-6.12 tree, unpacked once by the shared helper (or /usr/src)."""
    helper = Path(__file__).resolve().parents[2] / "shared" / "tools" / "kernel-tree"
    if helper.exists():
        return Path(subprocess.run([str(helper), "6.12"], capture_output=True, text=True, check=True).stdout.strip())
    return Path("/usr/src/linux-source-6.12")


def sources(root: Path) -> list[str]:
    """The files kalloclint checks under `root`: .c and .h, links not followed, and not the ones it skips as
    too large (generated register headers), so that the parse floor parses exactly what kalloclint parses."""
    from kalloclint.source import MAX_FILE_BYTES

    out = []
    for directory, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not os.path.islink(os.path.join(directory, d)))
        for name in sorted(names):
            path = os.path.join(directory, name)
            if name.endswith((".c", ".h")) and not os.path.islink(path) and os.path.getsize(path) <= MAX_FILE_BYTES:
                out.append(path)
    return out


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            return next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), "")
    except OSError:
        return platform.processor()


def _parse_chunk(paths: list[str]) -> int:
    import tree_sitter as ts
    import tree_sitter_c as tsc

    parser = ts.Parser(ts.Language(tsc.language()))
    for p in paths:
        with open(p, "rb") as fh:
            parser.parse(fh.read())
    return len(paths)


def parse_floor(files: list[str], jobs: int) -> float:
    """Wall time for tree-sitter alone to parse every file, with the same number of processes."""
    chunks = [files[i::jobs * 8] for i in range(jobs * 8)]
    start = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        pool.map(_parse_chunk, chunks)
    return time.perf_counter() - start


def timed(cmd: list[str], cwd: Path | None = None) -> tuple[float, int, int]:
    """Wall seconds, peak RSS (KiB) of the largest child so far, and the exit status."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    status = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    seconds = time.perf_counter() - start
    return seconds, max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss), status


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", type=Path, default=None, help="kernel source tree (default: linux-source-6.12)")
    ap.add_argument("--subdir", default="drivers", help="part of the tree to check (default: drivers)")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--skip-tools", action="store_true", help="do not time Coccinelle and checkpatch")
    args = ap.parse_args()
    tree = args.tree or default_tree()
    target = tree / args.subdir
    files = sources(target)
    rows: list[tuple[str, float, str]] = []

    floor = parse_floor(files, args.jobs)
    rows.append(("tree-sitter parse floor", floor, ""))
    cache = Path(tempfile.mkdtemp(prefix="kalloclint-bench-cache-"))
    kal = [sys.executable, "-m", "kalloclint", "-q", "--exit-zero", "-j", str(args.jobs), "--cache-dir", str(cache),
           str(target)]
    cold, rss, _ = timed(kal, cwd=ROOT)
    rows.append(("kalloclint cold", cold, f"peak RSS {rss // 1024} MiB"))
    victim = Path(next(f for f in files if f.endswith(".c")))
    original = victim.read_bytes()
    try:
        victim.write_bytes(original + b"\n/* benchmark edit */\n")
        warm, _, _ = timed(kal, cwd=ROOT)
    finally:
        victim.write_bytes(original)
    rows.append(("kalloclint warm, one file edited", warm, f"{victim.relative_to(tree)}"))
    shutil.rmtree(cache, ignore_errors=True)

    if not args.skip_tools and shutil.which("spatch"):
        for script in COCCI:
            if not (tree / script).is_file():
                print(f"bench: {script} is not in this tree, not timed", file=sys.stderr)
                continue
            seconds, _, status = timed(["spatch", "--very-quiet", "-D", "report", "-j", str(args.jobs),
                                        "--sp-file", str(tree / script), "--dir", str(target)])
            rows.append((f"spatch {Path(script).name}", seconds, f"FAILED (exit {status})" if status else ""))
    if not args.skip_tools and shutil.which("perl"):
        c_files = [f for f in files if f.endswith(".c")]
        sample = c_files[:: max(1, len(c_files) // 200)]
        start = time.perf_counter()
        for path in sample:
            subprocess.run(["perl", str(tree / "scripts/checkpatch.pl"), "--no-tree", "--quiet", "--terse",
                            "--types", CHECKPATCH_TYPES, "-f", path], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        sampled = time.perf_counter() - start
        lines = sum(Path(p).read_bytes().count(b"\n") for p in sample)
        total_lines = sum(Path(p).read_bytes().count(b"\n") for p in c_files)
        rows.append(("checkpatch.pl (estimated from a sample)", sampled * total_lines / max(lines, 1),
                     f"one process; {len(sample)} of {len(c_files)} .c files timed, scaled by lines"))

    print(f"{len(files)} files under {args.subdir} of {tree.name}; {args.jobs} jobs; "
          f"{platform.machine()} {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    print(f"command: python3 bench/run.py {' '.join(sys.argv[1:])}\n")
    print("| what | wall time | ratio to the parse floor | note |")
    print("|---|---|---|---|")
    for name, seconds, note in rows:
        print(f"| {name} | {seconds:.1f} s | {seconds / floor:.2f}x | {note} |")
    print(f"\nwarm / cold = {warm / cold:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
