"""Judge a stable sample of a kalloclint run by hand and turn the verdicts into an accuracy table.

Usage:
  python3 bench/triage.py show   REPORT --tree DIR [--code KAL405 ...] [-n 20] [--seed 1] [--brief] [--unjudged]
  python3 bench/triage.py record REPORT --tree DIR KEY right  --reason "why it is worth reporting"
  python3 bench/triage.py record REPORT --tree DIR KEY wrong  --class "guard not understood" --reason "..."
  python3 bench/triage.py table  REPORT --tree DIR [--code ...] [-n 20] [--seed 1]

REPORT is the output of `python3 -m kalloclint DIR --format json`. Its paths are absolute or relative to
the directory kalloclint ran in: --tree is that directory (the kernel tree; default: the current one).
Findings are grouped by rule code; of each group the sample is the N findings with the smallest
sha256(seed, key). A finding's key is a hash of its path relative to the tree, its code, the reported
source line with its white space collapsed, and its message with every number replaced by '#', so that
the same finding keeps its key, and stays in the sample, when code above it moves it by a few lines or a
line number in the message changes. Findings with equal keys in one file are numbered in line order
(`key:1`, `key:2`). Another seed draws another sample; -n larger than before draws a superset.

`show` prints each sampled finding with its key, the reported line marked among --context lines either
side, the message, the related locations and the verdict recorded so far. `record` appends a verdict for
a key (a unique prefix is enough) to the verdicts file: right means the finding is what the rule says and
a maintainer would agree it is worth reporting at its severity; a wrong one carries a class, the kind of
mistake shared by several findings ("guard not understood"), so that classes can be fixed. The file is
JSON lines, one object per verdict, the last one for a key counting; it defaults to
bench/verdicts/linux-<VERSION>.<PATCHLEVEL>.jsonl from the tree's Makefile, one file per kernel version.
`table` prints the Markdown table of docs/accuracy.md: per rule code the findings in the run, the size
of the sample, how many of it are judged, right and wrong, the share right with its 95% Wilson interval,
and the classes of the wrong ones with their counts.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VERDICTS_DIR = ROOT / "bench" / "verdicts"


@dataclass(frozen=True)
class Sampled:
    """One finding of the report with the key its verdict is recorded under."""

    key: str
    rel: str  # path relative to the tree
    finding: dict


@dataclass(frozen=True)
class Verdict:
    key: str
    right: bool
    klass: str
    reason: str


def relative_path(path: str, tree: Path) -> str:
    """The report's path relative to the tree: absolute paths are made relative, relative ones are kept."""
    p = Path(path)
    if not p.is_absolute():
        return p.as_posix()
    try:
        return p.relative_to(tree).as_posix()
    except ValueError:
        return p.as_posix()


def normalise_line(text: str) -> str:
    return " ".join(text.split())


def normalise_message(message: str) -> str:
    """Line numbers, sizes and counts vary with unrelated edits; the words of the message do not."""
    return re.sub(r"\d+", "#", message)


def identity(rel: str, code: str, line_text: str, message: str) -> str:
    text = "\0".join((rel, code, normalise_line(line_text), normalise_message(message)))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def rank(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}\0{key}".encode()).hexdigest()


class Sources:
    """Lines of the tree's files, read once each."""

    def __init__(self, tree: Path) -> None:
        self.tree = tree
        self.files: dict[str, list[str]] = {}

    def lines(self, rel: str) -> list[str]:
        if rel not in self.files:
            try:
                text = (self.tree / rel).read_text(encoding="utf-8", errors="replace")
            except OSError:
                text = ""
            self.files[rel] = text.splitlines()
        return self.files[rel]

    def line(self, rel: str, number: int) -> str:
        lines = self.lines(rel)
        return lines[number - 1] if 0 < number <= len(lines) else ""


def keyed(findings: list[dict], tree: Path, line_of) -> list[Sampled]:
    """Every finding with its key; `line_of(rel, line)` gives the source text of a reported line."""
    counts: Counter[str] = Counter()
    out = []
    for f in sorted(findings, key=lambda f: (f["path"], f["line"], f.get("column", 0), f["code"])):
        rel = relative_path(f["path"], tree)
        base = identity(rel, f["code"], line_of(rel, f["line"]), f["message"])
        counts[base] += 1
        out.append(Sampled(f"{base}:{counts[base]}", rel, f))
    return out


def families(items: list[Sampled]) -> dict[str, list[Sampled]]:
    groups: dict[str, list[Sampled]] = defaultdict(list)
    for s in items:
        groups[s.finding["code"]].append(s)
    return dict(sorted(groups.items()))


def sample(items: list[Sampled], n: int, seed: int) -> list[Sampled]:
    """The n items of smallest rank, shown in path and line order."""
    chosen = sorted(items, key=lambda s: rank(seed, s.key))[:n]
    return sorted(chosen, key=lambda s: (s.rel, s.finding["line"]))


def read_verdicts(path: Path) -> dict[str, Verdict]:
    verdicts: dict[str, Verdict] = {}
    if not path.exists():
        return verdicts
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        o = json.loads(line)
        if o["verdict"] not in ("right", "wrong"):
            raise ValueError(f"{path}:{number}: verdict must be right or wrong")
        verdicts[o["key"]] = Verdict(o["key"], o["verdict"] == "right", o.get("class", ""), o.get("reason", ""))
    return verdicts


def verdict_line(s: Sampled, right: bool, klass: str, reason: str) -> str:
    f = s.finding
    record = {"key": s.key, "code": f["code"], "path": s.rel, "line": f["line"],
              "verdict": "right" if right else "wrong"}
    if not right:
        record["class"] = klass
    record["reason"] = reason
    return json.dumps(record, ensure_ascii=False)


def wilson(right: int, judged: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion: honest for small samples and for 0% or 100%."""
    if judged == 0:
        return (0.0, 1.0)
    p = right / judged
    centre = (p + z * z / (2 * judged)) / (1 + z * z / judged)
    half = z * math.sqrt(p * (1 - p) / judged + z * z / (4 * judged * judged)) / (1 + z * z / judged)
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Row:
    code: str
    findings: int
    sampled: int
    judged: int
    right: int
    wrong_classes: Counter

    @property
    def wrong(self) -> int:
        return self.judged - self.right


def table_rows(groups: dict[str, list[Sampled]], verdicts: dict[str, Verdict], n: int, seed: int) -> list[Row]:
    rows = []
    for code, items in groups.items():
        chosen = sample(items, n, seed)
        judged = [verdicts[s.key] for s in chosen if s.key in verdicts]
        classes = Counter(v.klass or "unclassified" for v in judged if not v.right)
        rows.append(Row(code, len(items), len(chosen), len(judged), sum(v.right for v in judged), classes))
    return rows


def render_table(rows: list[Row]) -> str:
    out = ["| rule | findings | sampled | judged | right | wrong | % right (95% interval) | wrong, by class |",
           "|---|---:|---:|---:|---:|---:|---|---|"]
    for r in rows:
        if r.judged:
            low, high = wilson(r.right, r.judged)
            share = f"{100 * r.right / r.judged:.0f}% ({100 * low:.0f}-{100 * high:.0f}%)"
        else:
            share = "-"
        classes = "; ".join(f"{k} ({c})" for k, c in sorted(r.wrong_classes.items(), key=lambda kc: (-kc[1], kc[0])))
        out.append(f"| {r.code} | {r.findings} | {r.sampled} | {r.judged} | {r.right} | {r.wrong} | {share} "
                   f"| {classes or '-'} |")
    return "\n".join(out) + "\n"


def context(sources: Sources, rel: str, line: int, around: int) -> str:
    lines = sources.lines(rel)
    first, last = max(1, line - around), min(len(lines), line + around)
    return "\n".join(f"{'>' if i == line else ' '} {i:6} {lines[i - 1]}" for i in range(first, last + 1))


def describe(s: Sampled, sources: Sources, verdicts: dict[str, Verdict], around: int, brief: bool) -> str:
    f = s.finding
    v = verdicts.get(s.key)
    status = "unjudged" if v is None else ("right" if v.right else f"wrong [{v.klass}]") + f": {v.reason}"
    head = f"{s.key}  {f['code']} {s.rel}:{f['line']}  ({status})"
    if brief:
        return head
    parts = ["=" * 100, head, f"{f['severity']} {f['name']}: {f['message']}"]
    for r in f.get("related", []):
        parts.append(f"  related: {relative_path(r['path'], sources.tree)}:{r['line']}: {r['message']}")
    parts.append(context(sources, s.rel, f["line"], around))
    return "\n".join(parts)


def tree_version(tree: Path) -> str:
    """`linux-6.12` from the tree's Makefile, for the name of the verdicts file."""
    try:
        head = (tree / "Makefile").read_text(encoding="utf-8", errors="replace")[:2000]
    except OSError:
        return tree.name
    version = re.search(r"^VERSION\s*=\s*(\d+)", head, re.M)
    patch = re.search(r"^PATCHLEVEL\s*=\s*(\d+)", head, re.M)
    return f"linux-{version.group(1)}.{patch.group(1)}" if version and patch else tree.name


def load(args: argparse.Namespace) -> tuple[dict[str, list[Sampled]], Sources, Path]:
    tree = Path(args.tree).resolve()
    sources = Sources(tree)
    findings = json.loads(Path(args.report).read_text(encoding="utf-8"))
    if args.code:
        findings = [f for f in findings if f["code"] in args.code]
    groups = families(keyed(findings, tree, sources.line))
    verdicts_path = Path(args.verdicts) if args.verdicts else VERDICTS_DIR / f"{tree_version(tree)}.jsonl"
    return groups, sources, verdicts_path


def find_key(groups: dict[str, list[Sampled]], prefix: str) -> Sampled:
    everything = [s for items in groups.values() for s in items]
    matches = [s for s in everything if s.key == prefix] or [s for s in everything if s.key.startswith(prefix)]
    if len(matches) != 1:
        raise SystemExit(f"key {prefix!r} matches {len(matches)} findings of the report")
    return matches[0]


def main(argv: list[str] | None = None) -> int:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("report")
    common.add_argument("--tree", default=".", help="the directory the report's relative paths start from")
    common.add_argument("--code", action="append", help="only this rule code (repeatable)")
    common.add_argument("-n", type=int, default=20, help="findings sampled per rule code")
    common.add_argument("--seed", type=int, default=1)
    common.add_argument("--verdicts", help="the verdicts file (default: bench/verdicts/linux-X.Y.jsonl)")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("show", parents=[common], help="print the sample with its source")
    show.add_argument("--context", type=int, default=10, help="source lines either side")
    show.add_argument("--brief", action="store_true", help="one line per finding")
    show.add_argument("--unjudged", action="store_true", help="only findings without a verdict")
    record = commands.add_parser("record", parents=[common], help="record a verdict for one finding")
    record.add_argument("key", help="the finding's key or a unique prefix of it")
    record.add_argument("verdict", choices=("right", "wrong"))
    record.add_argument("--class", dest="klass", default="", help="the class of a wrong finding")
    record.add_argument("--reason", required=True, help="one line saying why")
    commands.add_parser("table", parents=[common], help="print the accuracy table")
    args = parser.parse_args(argv)
    groups, sources, verdicts_path = load(args)
    verdicts = read_verdicts(verdicts_path)
    if args.command == "show":
        for items in groups.values():
            for s in sample(items, args.n, args.seed):
                if not (args.unjudged and s.key in verdicts):
                    print(describe(s, sources, verdicts, args.context, args.brief))
    elif args.command == "record":
        if args.verdict == "wrong" and not args.klass:
            parser.error("a wrong verdict needs --class")
        s = find_key(groups, args.key)
        verdicts_path.parent.mkdir(parents=True, exist_ok=True)
        with verdicts_path.open("a", encoding="utf-8") as out:
            out.write(verdict_line(s, args.verdict == "right", args.klass, args.reason) + "\n")
        print(f"{s.key} {s.finding['code']} {s.rel}:{s.finding['line']}: {args.verdict} -> {verdicts_path}")
    else:
        sys.stdout.write(render_table(table_rows(groups, verdicts, args.n, args.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
