"""--write-baseline / --baseline: old findings stay hidden through unrelated edits, new ones never are."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kalloclint.cli import main

LEGACY = """\
static int ring_init(void **out, size_t n)
{
	*out = kmalloc(n * 8, GFP_KERNEL);
	return 0;
}

static int ring_more(void **out, size_t n)
{
	*out = kmalloc(n * 8, GFP_KERNEL);
	return 0;
}
"""
NEW_CALL = "\t*out = kmalloc(n * 16, GFP_KERNEL);\n"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def tree(tmp_path: Path, capsys) -> Path:
    (tmp_path / "drv").mkdir()
    (tmp_path / "drv" / "ring.c").write_text(LEGACY)
    code, out, err = run(capsys, "--write-baseline", str(tmp_path / "baseline.json"), str(tmp_path / "drv"))
    assert (code, out) == (0, "") and "recorded 2 findings" in err
    return tmp_path


def shown(capsys, tree: Path) -> list[int]:
    code, out, _ = run(capsys, "--baseline", str(tree / "baseline.json"), "--format", "json", str(tree / "drv"))
    lines = [item["line"] for item in json.loads(out)]
    assert code == (1 if lines else 0)
    return lines


def test_the_baseline_file(tree):
    document = json.loads((tree / "baseline.json").read_text())
    assert document["kalloclint-baseline"] == 1
    assert [(e["code"], e["path"], e["text"], e["occurrence"]) for e in document["findings"]] == [
        ("KAL201", "drv/ring.c", "*out = kmalloc(n * 8, GFP_KERNEL);", 1),
        ("KAL201", "drv/ring.c", "*out = kmalloc(n * 8, GFP_KERNEL);", 2),
    ]


def test_recorded_findings_are_hidden(tree, capsys):
    assert shown(capsys, tree) == []


def test_hidden_after_lines_move_and_whitespace_changes(tree, capsys):
    text = "/* a new header comment */\n#include <linux/slab.h>\n\n" + LEGACY.replace("\t*out = ", "    *out  =  ")
    (tree / "drv" / "ring.c").write_text(text)
    assert shown(capsys, tree) == []


def test_a_new_finding_is_shown(tree, capsys):
    lines = LEGACY.splitlines(keepends=True)
    lines.insert(3, NEW_CALL)
    (tree / "drv" / "ring.c").write_text("".join(lines))
    assert shown(capsys, tree) == [4]


def test_one_more_copy_of_an_old_line_is_shown(tree, capsys):
    lines = LEGACY.splitlines(keepends=True)
    lines.insert(9, lines[8])
    (tree / "drv" / "ring.c").write_text("".join(lines))
    assert len(shown(capsys, tree)) == 1


def test_a_changed_line_is_shown(tree, capsys):
    (tree / "drv" / "ring.c").write_text(LEGACY.replace("n * 8, GFP_KERNEL);\n\treturn 0;\n}\n\nstatic",
                                                        "n * 4, GFP_KERNEL);\n\treturn 0;\n}\n\nstatic", 1))
    assert shown(capsys, tree) == [3]


def test_paths_are_relative_to_the_baseline_file(tree, capsys, monkeypatch):
    monkeypatch.chdir(tree / "drv")
    code, out, _ = run(capsys, "--baseline", "../baseline.json", "ring.c")
    assert (code, out) == (0, "")


def test_a_fixed_finding_just_leaves_the_baseline_unused(tree, capsys):
    (tree / "drv" / "ring.c").write_text(LEGACY.replace("kmalloc(n * 8,", "kmalloc_array(n, 8,"))
    assert shown(capsys, tree) == []


@pytest.mark.parametrize("content, message", [
    (None, "cannot read the baseline"),
    ("{", "not valid JSON"),
    ('{"findings": []}', "not a kalloclint baseline"),
    ('{"kalloclint-baseline": 1, "findings": [{"code": "KAL201"}]}', "entry 1 lacks"),
])
def test_a_bad_baseline_is_a_usage_error(tree, capsys, content, message):
    path = tree / "other.json"
    if content is not None:
        path.write_text(content)
    code, out, err = run(capsys, "--baseline", str(path), str(tree / "drv"))
    assert code == 2 and out == "" and message in err
