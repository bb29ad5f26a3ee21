"""Measure kalloclint's recall on kernel bugs fixed upstream between two kernel trees.

Usage:
    python3 bench/recall.py [--old DIR] [--new DIR] [--subdir drivers/ [net/ ...]] [-j 1]
                            [--findings FILE] [--candidates-only] [--save-json FILE]

For every .c file present in both trees under --subdir whose text differs, the functions of the two
versions are matched by name and the bodies of changed functions are compared with difflib. Three kinds of
upstream fixes are picked out of those changes:

  a. sleep-in-atomic: a call passing GFP_KERNEL/GFP_NOFS/GFP_NOIO/GFP_USER in the old tree passes
     GFP_ATOMIC/GFP_NOWAIT in the new one, and nothing else in the function changed except such flag
     swaps (a2: the same flag change where other changes of the function touch locking, work items,
     interrupts or GFP flags, so the context itself may have changed: listed apart, to be read by hand).
     Expected in the old tree: KAL101/KAL102/KAL103 on that line, or a KAL103 whose call chain
     mentions the function or the callee.
  b. unchecked allocation: the new tree adds a NULL test of x (`if (!x)`, `if (x == NULL)`,
     `if (unlikely(!x))`) within a few lines after `x = <allocator>(...)`, a line kept as it was, and the
     old function never tests x (`x == 0` counts as a test).
     Expected in the old tree: KAL306 in that function.
  c. size multiply: `kmalloc(a * b, ...)` (or another sized allocator) in the old tree became
     kmalloc_array/kcalloc/array_size/struct_size/... in the new one, and not every factor is a
     compile-time constant (such products cannot overflow).  Expected: KAL201/KAL202 there.

kalloclint (the checkout this script lives in) is then run once on the old tree, `--format json -j N
--no-cache`, on the directories of the kind-a candidate files (so that call chains across files of the
same directory are followed) and on the kind-b/c candidate files themselves (those rules look inside one
function).  Findings are matched to candidates and a Markdown table per kind is printed, with every miss
(old file:line, old line, new line).  --findings reuses a JSON report from an earlier run.

Candidate extraction is textual (a function is a line at column 0 ending its header, a body from a `{` to
the next `}` at column 0, the kernel's coding style); it only needs to be good enough to find fixes, and it
prefers to drop an unclear change over keeping a doubtful one.  Standard library only.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OLD = "/tmp/kernel-trees/6.1/linux-source-6.1"
NEW = "/tmp/kernel-trees/6.12/linux-source-6.12"

# A function header: the name followed by '(' on a line starting at column 0 that is not a statement.
FUNC_NAME = re.compile(r"^[A-Za-z_][^;=#]*?\b([A-Za-z_]\w*)\s*\(")
SLEEPY_GFP = re.compile(r"\bGFP_(KERNEL|NOFS|NOIO|USER)\b")
ATOMIC_GFP = re.compile(r"\bGFP_(ATOMIC|NOWAIT)\b")
# Other changes in the same function that may mean the context itself changed (a lock taken or dropped, a
# callback moved to a workqueue): with any of these the flag change is not counted as a plain fix.
CONTEXT_WORDS = re.compile(r"lock|irq|rcu|preempt|atomic|sched|work|timer|tasklet|bh\b|in_interrupt|might_sleep|"
                           r"sleep|wait|mutex|sem\b|down\(|up\(")
NEAR = 12  # lines after an allocation within which an added NULL test counts as its fix
ALLOCATOR = (r"(?:devm_)?(?:k[mzv]?alloc\w*|kcalloc\w*|kvcalloc\w*|kvzalloc\w*|kvmalloc\w*|kstrn?dup\w*|"
             r"kmemdup\w*|krealloc\w*|kasprintf|vzalloc\w*|vmalloc\w*|vcalloc\w*|kmem_cache_z?alloc\w*|"
             r"kvmemdup\w*)")
ALLOC_ASSIGN = re.compile(r"^\s*(?:[\w\s\*]*?\s\**)?([\w\.\->\[\]]+)\s*=\s*(?:\([^()]*\)\s*)?(" + ALLOCATOR +
                          r")\s*\(")
SIZED = re.compile(r"\b((?:devm_)?(?:kmalloc|kzalloc|kvmalloc|kvzalloc|vmalloc|vzalloc|krealloc|"
                   r"dma_alloc_coherent|kmalloc_node|kzalloc_node|kvmalloc_node))\s*\(")
ARRAY_API = re.compile(r"\b((?:devm_)?(?:kmalloc_array\w*|kcalloc\w*|kvmalloc_array|kvcalloc|array_size|"
                       r"array3_size|struct_size|flex_array_size|size_mul|krealloc_array|vcalloc|"
                       r"vmalloc_array|kzalloc_objs))\s*\(")


@dataclass
class Function:
    """One function of one file: its name, first line (1-based) and its lines."""

    name: str
    start: int
    lines: list[str]


@dataclass
class Candidate:
    """One upstream fix: where it is in the old tree and what kalloclint is expected to say."""

    kind: str
    path: str          # relative to the tree root
    function: str
    line: int          # in the old tree
    func_start: int
    func_end: int
    old: str
    new: str
    callee: str = ""
    var: str = ""
    hit: bool = False
    found: list[str] = field(default_factory=list)


def functions(text: str) -> dict[str, Function]:
    """The functions of a C file written in kernel style; names defined twice (#ifdef variants) dropped."""
    lines = text.split("\n")
    found: dict[str, Function] = {}
    twice: set[str] = set()
    i = 0
    while i < len(lines):
        m = FUNC_NAME.match(lines[i])
        if not m or lines[i].startswith(("typedef", "struct ", "static const", "}")):
            i += 1
            continue
        j = i
        while j < len(lines) and j < i + 8 and lines[j] != "{" and not lines[j].rstrip().endswith((";", "}")):
            j += 1
        if j >= len(lines) or lines[j] != "{":
            i += 1
            continue
        k = j + 1
        while k < len(lines) and not lines[k].startswith("}"):
            k += 1
        name = m.group(1)
        if name in found:
            twice.add(name)
        found[name] = Function(name, i + 1, lines[i:k + 1])
        i = k + 1
    for name in twice:
        del found[name]
    return found


def norm(line: str) -> str:
    """A line with its whitespace collapsed, for comparisons that ignore reindentation."""
    return " ".join(line.split())


def callee_at(line: str, pos: int) -> str:
    """The name of the innermost call whose argument list contains position pos of line."""
    depth = 0
    for i in range(pos - 1, -1, -1):
        if line[i] == ")":
            depth += 1
        elif line[i] == "(":
            if depth == 0:
                m = re.search(r"([A-Za-z_]\w*)\s*$", line[:i])
                return m.group(1) if m else ""
            depth -= 1
    return ""


def flag_swap(old: str, new: str) -> bool:
    """Whether new is old with sleeping GFP flags replaced by GFP_ATOMIC/GFP_NOWAIT and nothing else."""
    if not SLEEPY_GFP.search(old) or not ATOMIC_GFP.search(new):
        return False
    return norm(SLEEPY_GFP.sub("GFP_X", old)) == norm(ATOMIC_GFP.sub("GFP_X", new))


def gfp_candidates(path: str, old: Function, new: Function, ops: list) -> list[Candidate]:
    """Kind a: sleeping GFP flags became atomic ones, and no other change touches locking or context;
    kind a2 when other changes of the function may have changed the context (to be read by hand)."""
    out: list[Candidate] = []
    other: list[str] = []
    for tag, i1, i2, j1, j2 in ops:
        if tag == "equal":
            continue
        pairs = zip(old.lines[i1:i2], new.lines[j1:j2]) if tag == "replace" and i2 - i1 == j2 - j1 else []
        for off, (a, b) in enumerate(pairs):
            if flag_swap(a, b):
                m = SLEEPY_GFP.search(a)
                out.append(Candidate("a", path, old.name, old.start + i1 + off, old.start,
                                     old.start + len(old.lines) - 1, a.strip(), b.strip(),
                                     callee=callee_at(a, m.start())))
            else:
                other += [a, b]
        if not pairs:
            other += old.lines[i1:i2] + new.lines[j1:j2]
    changed = "\n".join(other)
    if out and (CONTEXT_WORDS.search(changed) or "GFP_" in changed
                or any(re.search(r"\b" + re.escape(c.callee) + r"\b", changed) for c in out if c.callee)):
        for c in out:
            c.kind = "a2"
    return out


def tests_null(var: str, text: str) -> bool:
    """Whether text tests var against NULL in any of the usual spellings."""
    v = re.escape(var)
    return bool(re.search(r"!\s*\(?\s*" + v + r"\s*\)?(?![\w\.\-\[])|" + v + r"\s*[!=]=\s*(?:NULL|0)\b|(?:NULL|0)\s*[!=]=\s*" + v +
                          r"|IS_ERR_OR_NULL\s*\(\s*" + v + r"\s*\)|if\s*\(\s*(?:likely\s*\()?" + v + r"\s*\)|"
                          r"(?:WARN_ON|BUG_ON|WARN_ON_ONCE)\s*\(\s*!\s*" + v + r"\s*\)|" + v + r"\s*(?:&&|\?|\|\|)",
                          text))


def null_candidates(path: str, old: Function, new: Function, ops: list) -> list[Candidate]:
    """Kind b: an allocation kept as it was, never tested in the old function, tested within a few lines
    after it in the new one (right after it, or after the else branch of an if/else choosing the format)."""
    out: list[Candidate] = []
    new_of = {i1 + d: j1 + d for tag, i1, i2, j1, j2 in ops if tag == "equal" for d in range(i2 - i1)}
    for k, line in enumerate(old.lines):
        m = ALLOC_ASSIGN.match(line)
        same = [j for j, ln in enumerate(new.lines) if ln == line]
        if not m or (k not in new_of and len(same) != 1):
            continue
        var = m.group(1)
        rest = "\n".join(old.lines[k + 1:])
        if tests_null(var, rest) or not re.search(re.escape(var) + r"(?!\w)", rest):
            continue
        nk = new_of.get(k, same[0] if same else 0)
        test = next((ln for ln in new.lines[nk + 1:nk + NEAR] if re.match(r"\s*if\s*\(", ln) and tests_null(var, ln)),
                    None)
        if test is None:
            continue
        out.append(Candidate("b", path, old.name, old.start + k, old.start, old.start + len(old.lines) - 1,
                             line.strip(), test.strip(), callee=m.group(2), var=var))
    return out


def multiply_args(line: str, m: re.Match) -> bool:
    """Whether the first argument of the call matched by m contains a top-level '*' product."""
    depth, start = 0, m.end()
    for i in range(start, len(line)):
        c = line[i]
        if c in "([":
            depth += 1
        elif c in ")]":
            if depth == 0:
                return False
            depth -= 1
        elif c == "," and depth == 0:
            return False
        elif c == "*" and depth == 0 and re.search(r"[\w\)\]]\s*$", line[start:i]):
            return True
    return False


def constant_product(line: str, m: re.Match) -> bool:
    """Whether every factor of the first argument is a compile-time constant (a number, sizeof(...) or an
    UPPER_CASE name): such a product cannot overflow, so replacing it is a cleanup, not a fix."""
    depth, start, end = 0, m.end(), len(line)
    for i in range(start, len(line)):
        if line[i] in "([":
            depth += 1
        elif line[i] in ")]" and depth == 0 or line[i] == "," and depth == 0:
            end = i
            break
        elif line[i] in ")]":
            depth -= 1
    arg = re.sub(r"sizeof\s*\((?:[^()]|\([^()]*\))*\)", "1", line[start:end])
    return all(re.fullmatch(r"\s*(?:\d+[uUlL]*|[A-Z_][A-Z0-9_]*|1)\s*", t) for t in re.split(r"[*+\-()]", arg) if t.strip())


def size_candidates(path: str, old: Function, new: Function, ops: list) -> list[Candidate]:
    """Kind c: a sized allocation of a product became an overflow-checked array allocation."""
    out: list[Candidate] = []
    for tag, i1, i2, j1, j2 in ops:
        if tag != "replace":
            continue
        new_text = "\n".join(new.lines[j1:j2])
        if not ARRAY_API.search(new_text):
            continue
        for off, a in enumerate(old.lines[i1:i2]):
            for m in SIZED.finditer(a):
                if multiply_args(a, m) and not ARRAY_API.search(a) and not constant_product(a, m):
                    same = new.lines[j1 + off] if i2 - i1 == j2 - j1 else ""
                    b = same if ARRAY_API.search(same) else next(
                        (ln for ln in new.lines[j1:j2] if ARRAY_API.search(ln)), "")
                    out.append(Candidate("c", path, old.name, old.start + i1 + off, old.start,
                                         old.start + len(old.lines) - 1, a.strip(), b.strip(), callee=m.group(1)))
                    break
    return out


def candidates(old_root: str, new_root: str, subdir: str) -> list[Candidate]:
    """Every candidate fix of the three kinds in the .c files of subdir present in both trees."""
    out: list[Candidate] = []
    for dirpath, _dirs, files in os.walk(os.path.join(old_root, subdir)):
        for fname in sorted(files):
            if not fname.endswith(".c"):
                continue
            op = os.path.join(dirpath, fname)
            rel = os.path.relpath(op, old_root)
            np_ = os.path.join(new_root, rel)
            if os.path.islink(op) or not os.path.isfile(np_):
                continue
            ot = Path(op).read_text(errors="replace")
            nt = Path(np_).read_text(errors="replace")
            if ot == nt:
                continue
            ofun, nfun = functions(ot), functions(nt)
            for name, f in ofun.items():
                g = nfun.get(name)
                if g is None or f.lines[1:] == g.lines[1:]:
                    continue
                ops = difflib.SequenceMatcher(None, f.lines, g.lines, autojunk=False).get_opcodes()
                out += gfp_candidates(rel, f, g, ops)
                out += null_candidates(rel, f, g, ops)
                out += size_candidates(rel, f, g, ops)
    return out


def run_kalloclint(old_root: str, cands: list[Candidate], jobs: int) -> list[dict]:
    """kalloclint's JSON findings on the old tree: kind-a directories whole, kind-b/c files alone."""
    dirs = sorted({os.path.dirname(c.path) for c in cands if c.kind in ("a", "a2")})
    files = sorted({c.path for c in cands if c.kind in ("b", "c") and os.path.dirname(c.path) not in dirs})
    paths = [os.path.join(old_root, p) for p in dirs + files]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "findings.json")
        cmd = [sys.executable, "-m", "kalloclint", "--format", "json", "--output-file", out, "-j", str(jobs),
               "--no-cache", "--exit-zero", "-q", *paths]
        print("running:", " ".join(cmd[:10]), f"... ({len(dirs)} directories, {len(files)} files)",
              file=sys.stderr)
        subprocess.run(cmd, cwd=ROOT, check=True)
        return json.loads(Path(out).read_text())


def match(c: Candidate, findings: list[dict], taken: set[tuple[str, int]]) -> list[str]:
    """The findings that count as kalloclint reporting candidate c (taken: the lines of the other
    candidates, whose findings are theirs)."""
    hits = []
    for f in findings:
        code, line, rel = f["code"], f["line"], f["rel"]
        same_file = rel == c.path
        if c.kind in ("a", "a2"):
            at_line = same_file and line <= c.line <= f.get("end_line", line) and code in ("KAL101", "KAL102",
                                                                                         "KAL103")
            chain = code == "KAL103" and any(r["rel"] == c.path and r["line"] == c.line for r in f["related"])
            via = (code == "KAL103" and any(r["rel"] == c.path for r in f["related"])
                   and re.search(r"\b" + re.escape(c.function) + r"\(\)", f["message"]))
            if at_line or chain or via:
                hits.append(f"{code} {rel}:{line}")
        elif c.kind == "b":
            if same_file and code == "KAL306" and c.func_start <= line <= c.func_end:
                hits.append(f"{code} {rel}:{line}")
        elif (same_file and code in ("KAL201", "KAL202") and c.line <= line <= c.line + 2
              and (line == c.line or (rel, line) not in taken)):
            hits.append(f"{code} {rel}:{line}")
    return hits


KINDS = {"a": "sleep-in-atomic (GFP_KERNEL -> GFP_ATOMIC), expect KAL101/102/103",
         "a2": "same, in a function whose other changes touch locking or context (not all fixes)",
         "b": "unchecked allocation (NULL test added), expect KAL306",
         "c": "size multiply (-> kmalloc_array/kcalloc/array_size/struct_size), expect KAL201/202"}


def report(cands: list[Candidate], subdir: str) -> str:
    """The Markdown tables: per kind, candidates, hits, recall, then every miss."""
    out = [f"### {subdir}", "", "| kind | candidates | hit | recall |", "|---|---:|---:|---:|"]
    for k, title in KINDS.items():
        cs = [c for c in cands if c.kind == k]
        hit = sum(c.hit for c in cs)
        out.append(f"| {title} | {len(cs)} | {hit} | {hit / len(cs):.0%} |" if cs else f"| {title} | 0 | 0 | - |")
    for k, title in KINDS.items():
        misses = [c for c in cands if c.kind == k and not c.hit]
        if not misses:
            continue
        out += ["", f"Misses, {title}:", ""]
        for c in misses:
            out.append(f"- `{c.path}:{c.line}` in {c.function}(): `{c.old}` -> `{c.new}`")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--old", default=OLD)
    ap.add_argument("--new", default=NEW)
    ap.add_argument("--subdir", nargs="+", default=["drivers/"], help="parts of the tree to look at")
    ap.add_argument("-j", "--jobs", type=int, default=1)
    ap.add_argument("--findings", help="reuse this JSON report of kalloclint on the old tree")
    ap.add_argument("--candidates-only", action="store_true", help="list the candidates, do not run kalloclint")
    ap.add_argument("--save-json", help="write candidates with their verdicts to this file")
    args = ap.parse_args()
    cands = [c for sub in args.subdir for c in candidates(args.old, args.new, sub)]
    if args.candidates_only:
        for c in cands:
            print(f"{c.kind} {c.path}:{c.line} {c.function}: {c.old}  ->  {c.new}")
        return
    findings = json.loads(Path(args.findings).read_text()) if args.findings else run_kalloclint(args.old, cands,
                                                                                                 args.jobs)
    old_root = os.path.abspath(args.old)
    for f in findings:
        f["rel"] = os.path.relpath(f["path"], old_root)
        for r in f.get("related", []):
            r["rel"] = os.path.relpath(r["path"], old_root)
    taken = {(c.path, c.line) for c in cands}
    for c in cands:
        c.found = match(c, findings, taken)
        c.hit = bool(c.found)
    if args.save_json:
        Path(args.save_json).write_text(json.dumps([asdict(c) for c in cands], indent=1))
    print(report(cands, " ".join(args.subdir)))


if __name__ == "__main__":
    main()
