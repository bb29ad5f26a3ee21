"""Measure what each layer of the analysis costs over the bare tree-sitter parse, on the same files.

Usage:  python3 bench/layers.py [--tree DIR] [--subdir drivers] [--every 20] [-j 2]

The cold-run target compares kalloclint with the parse alone. This splits the difference into layers, each
measured cumulatively in worker processes over the same files (every Nth file of the part of the tree, so
that a run takes minutes, not an hour):

1. tree-sitter parse of the file as it is (the floor);
2. the same, after kalloclint's macro rewrite (what kalloclint actually parses);
3. plus one tree-sitter query for the function definitions and called names, with every callee name
   decoded: the least any analysis that follows calls between functions has to do;
4. kalloclint's front end instead: the facts of every function (statements, conditions, calls, stores);
5. plus a CFG for every function (the summaries need each call's guarding conditions);
6. plus every rule and the file's summary for the whole-tree phase (the per-file work of a real run,
   headers read for sizes included; the whole-tree phase itself is not included).

Prints one Markdown table of CPU seconds and ratios to layer 1. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import default_tree, sources  # noqa: E402  (bench/run.py: the same file list as the main bench)

LAYERS = ("tree-sitter parse (the floor)", "macro rewrite + parse", "+ query: functions and callee names",
          "kalloclint front end (facts of every function)", "+ a CFG for every function",
          "+ every rule and the summary (a real run's per-file work)")
_CALLS = "(function_definition) @function (call_expression function: (identifier) @callee)"


def _layer(args: tuple[int, list[str]]) -> float:
    """CPU seconds for one layer over some files, in a fresh worker."""
    layer, paths = args
    import tree_sitter as ts
    import tree_sitter_c as tsc

    from kalloclint import engine
    from kalloclint.analysis.cfg import build_cfg
    from kalloclint.config import Settings
    from kalloclint.frontend.extract import extract
    from kalloclint.frontend.rewrite import rewrite_source
    from kalloclint.model import load_model
    from kalloclint.source import read_source

    gc.set_threshold(50_000, 20, 100)  # as a real run does
    language = ts.Language(tsc.language())
    parser = ts.Parser(language)
    query = ts.Query(language, _CALLS)
    model = load_model(())
    if layer == 5:
        settings = Settings()
        codes = engine.selected_codes(settings)
        checks = [c for c in engine.all_checks() if c.code in codes]
        engine._JOB = engine._Job(model, settings, checks, True, engine.sizing(model, settings), None)
    datas = [(p, Path(p).read_bytes()) for p in paths]
    start = time.process_time()
    for path, data in datas:
        if layer == 0:
            parser.parse(data)
        elif layer == 1:
            parser.parse(rewrite_source(data, model.macros)[0])
        elif layer == 2:
            tree = parser.parse(rewrite_source(data, model.macros)[0])
            captures = ts.QueryCursor(query).captures(tree.root_node)
            [n.text.decode("utf-8", "replace") for n in captures.get("callee", [])]
        elif layer in (3, 4):
            facts = extract(read_source(path), model)
            if layer == 4:
                noreturn, pure = model.contexts.noreturn, model.contexts.pure
                for function in facts.functions:
                    build_cfg(function, noreturn, pure)
        else:
            engine._check_one((path, None))
    return time.process_time() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", type=Path, default=None, help="kernel source tree (default: linux-source-6.12)")
    ap.add_argument("--subdir", default="drivers", help="part of the tree (default: drivers)")
    ap.add_argument("--every", type=int, default=20, help="measure every Nth file (default: 20)")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    args = ap.parse_args()
    tree = args.tree or default_tree()
    files = sources(tree / args.subdir)[:: max(1, args.every)]
    chunks = [files[i::args.jobs] for i in range(args.jobs)]
    seconds = []
    for layer in range(len(LAYERS)):
        # a fresh pool per layer: no layer profits from what an earlier one left in memory
        with multiprocessing.get_context("fork").Pool(args.jobs, maxtasksperchild=1) as pool:
            seconds.append(sum(pool.map(_layer, [(layer, chunk) for chunk in chunks], chunksize=1)))
    print(f"{len(files)} files (1 in {args.every} under {args.subdir} of {tree.name}); {args.jobs} jobs; "
          f"CPU seconds summed over the workers; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    print(f"command: python3 bench/layers.py {' '.join(sys.argv[1:])}\n")
    print("| layer | CPU time | ratio to the parse |")
    print("|---|---|---|")
    for name, value in zip(LAYERS, seconds):
        print(f"| {name} | {value:.2f} s | {value / seconds[0]:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
