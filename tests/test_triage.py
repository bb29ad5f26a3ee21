"""bench/triage.py: keys survive moved lines, samples are reproducible, the table adds up."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location("triage", Path(__file__).parent.parent / "bench" / "triage.py")
triage = importlib.util.module_from_spec(spec)
sys.modules["triage"] = triage  # dataclasses look their module up there
spec.loader.exec_module(triage)

TREE = Path("/k")


def finding(path: str, line: int, code: str = "KAL201", message: str = "size multiplies n") -> dict:
    return {"path": path, "line": line, "column": 5, "code": code, "name": "x", "severity": "warning",
            "message": message, "related": []}


def lines_of(files: dict[str, list[str]]):
    return lambda rel, n: files[rel][n - 1]


def keys(findings: list[dict], files: dict[str, list[str]]) -> list[str]:
    return [s.key for s in triage.keyed(findings, TREE, lines_of(files))]


def test_key_survives_a_moved_line_and_renumbered_message():
    before = {"drivers/a.c": ["int x;", "p = kmalloc(n * m, GFP_KERNEL);"]}
    after = {"drivers/a.c": ["int x;", "", "", "  p = kmalloc(n  * m, GFP_KERNEL);"]}
    old = keys([finding("/k/drivers/a.c", 2, message="chain ends at a.c:88")], before)
    new = keys([finding("/k/drivers/a.c", 4, message="chain ends at a.c:91")], after)
    assert old == new


def test_key_changes_with_the_code_the_path_or_the_line():
    files = {"a.c": ["p = kmalloc(n * m, GFP_KERNEL);", "q = kmalloc(n * m, GFP_KERNEL);"],
             "b.c": ["p = kmalloc(n * m, GFP_KERNEL);"]}
    ks = keys([finding("a.c", 1), finding("a.c", 1, code="KAL206"), finding("a.c", 2), finding("b.c", 1)], files)
    assert len(set(ks)) == 4


def test_relative_and_absolute_paths_give_one_key():
    files = {"drivers/a.c": ["p = kmalloc(n * m, GFP_KERNEL);"]}
    assert keys([finding("drivers/a.c", 1)], files) == keys([finding("/k/drivers/a.c", 1)], files)


def test_equal_lines_in_one_file_are_numbered_in_line_order():
    files = {"a.c": ["p = kmalloc(n * m, GFP_KERNEL);"] * 3}
    ks = keys([finding("a.c", 3), finding("a.c", 1)], files)
    assert [k.split(":")[1] for k in ks] == ["1", "2"]
    assert ks[0].split(":")[0] == ks[1].split(":")[0]


def items(count: int) -> list:
    files = {"a.c": [f"p{i} = kmalloc(n * m, GFP_KERNEL);" for i in range(count)]}
    return triage.keyed([finding("a.c", i + 1) for i in range(count)], TREE, lines_of(files))


def test_sample_is_deterministic_and_independent_of_report_order():
    all_items = items(50)
    first = triage.sample(all_items, 10, seed=1)
    assert first == triage.sample(list(reversed(all_items)), 10, seed=1)
    assert len(first) == 10
    assert {s.key for s in first} != {s.key for s in triage.sample(all_items, 10, seed=2)}


def test_sample_keeps_surviving_findings_when_others_disappear():
    all_items = items(50)
    first = {s.key for s in triage.sample(all_items, 10, seed=1)}
    dropped = {s.key for s in all_items if s.key not in first}
    survivors = [s for s in all_items if s.key in first or s.key in sorted(dropped)[:5]]
    assert {s.key for s in triage.sample(survivors, 10, seed=1)} == first


def test_larger_sample_is_a_superset():
    all_items = items(50)
    assert {s.key for s in triage.sample(all_items, 5, 7)} <= {s.key for s in triage.sample(all_items, 10, 7)}


def test_table_counts_only_sampled_verdicts():
    all_items = items(30)
    groups = triage.families(all_items)
    chosen = triage.sample(all_items, 10, seed=3)
    outside = next(s for s in all_items if s not in chosen)
    verdicts = {chosen[0].key: triage.Verdict(chosen[0].key, True, "", "ok"),
                chosen[1].key: triage.Verdict(chosen[1].key, True, "", "ok"),
                chosen[2].key: triage.Verdict(chosen[2].key, False, "guard not understood", "r"),
                chosen[3].key: triage.Verdict(chosen[3].key, False, "guard not understood", "r"),
                chosen[4].key: triage.Verdict(chosen[4].key, False, "", "r"),
                outside.key: triage.Verdict(outside.key, False, "elsewhere", "r")}
    [row] = triage.table_rows(groups, verdicts, 10, seed=3)
    assert (row.code, row.findings, row.sampled, row.judged, row.right, row.wrong) == ("KAL201", 30, 10, 5, 2, 3)
    assert row.wrong_classes == {"guard not understood": 2, "unclassified": 1}
    text = triage.render_table([row])
    assert "| KAL201 | 30 | 10 | 5 | 2 | 3 | 40% (12-77%) | guard not understood (2); unclassified (1) |" in text


def test_small_family_is_sampled_whole():
    [row] = triage.table_rows(triage.families(items(3)), {}, 20, seed=1)
    assert (row.sampled, row.judged) == (3, 0)
    assert "| KAL201 | 3 | 3 | 0 | 0 | 0 | - | - |" in triage.render_table([row])


@pytest.mark.parametrize("right, judged, low, high", [(20, 20, 0.839, 1.0), (0, 20, 0.0, 0.161),
                                                      (10, 20, 0.299, 0.701)])
def test_wilson_interval(right, judged, low, high):
    lo, hi = triage.wilson(right, judged)
    assert lo == pytest.approx(low, abs=0.001) and hi == pytest.approx(high, abs=0.001)


def test_record_then_table_through_the_command_line(tmp_path, capsys):
    tree = tmp_path / "tree"
    (tree / "drivers").mkdir(parents=True)
    (tree / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 12\n")
    (tree / "drivers" / "a.c").write_text("int x;\np = kmalloc(n * m, GFP_KERNEL);\n")
    report = tmp_path / "r.json"
    report.write_text(json.dumps([finding(str(tree / "drivers" / "a.c"), 2)]))
    verdicts = tmp_path / "v.jsonl"
    common = [str(report), "--tree", str(tree), "--verdicts", str(verdicts)]
    triage.main(["show", *common])
    shown = capsys.readouterr().out
    assert ">      2 p = kmalloc(n * m, GFP_KERNEL);" in shown and "unjudged" in shown
    key = shown.split("\n")[1].split()[0]
    triage.main(["record", *common, key[:6], "wrong", "--class", "constant not folded", "--reason", "m is 4"])
    capsys.readouterr()
    record = json.loads(verdicts.read_text())
    assert record == {"key": key, "code": "KAL201", "path": "drivers/a.c", "line": 2, "verdict": "wrong",
                      "class": "constant not folded", "reason": "m is 4"}
    triage.main(["table", *common])
    assert "| KAL201 | 1 | 1 | 1 | 0 | 1 | 0% (0-79%) | constant not folded (1) |" in capsys.readouterr().out
    assert triage.tree_version(tree) == "linux-6.12"


def test_record_key_is_exact_before_it_is_a_prefix():
    files = {"a.c": ["p = kmalloc(n * m, GFP_KERNEL);"] * 2}
    groups = triage.families(triage.keyed([finding("a.c", 1), finding("a.c", 2)], TREE, lines_of(files)))
    first, second = groups["KAL201"]
    assert triage.find_key(groups, first.key) == first
    assert triage.find_key(groups, second.key) == second
    with pytest.raises(SystemExit):
        triage.find_key(groups, first.key.split(":")[0])
