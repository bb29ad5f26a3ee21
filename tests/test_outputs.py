"""--format json-lines, --output-file, and --statistics in every format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kalloclint.cli import main

BUGGY = """\
static int ring_init(void **out, size_t n)
{
	*out = kmalloc(n * 8, GFP_KERNEL | GFP_ATOMIC);
	return 0;
}
"""


@pytest.fixture
def buggy(tmp_path: Path, monkeypatch) -> Path:
    (tmp_path / "buggy.c").write_text(BUGGY)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_lines_has_the_json_objects_one_per_line(buggy, capsys):
    code, out, _ = run(capsys, "--format", "json-lines", "buggy.c")
    assert code == 1
    lines = out.splitlines()
    assert [json.loads(ln) for ln in lines] == json.loads(run(capsys, "--format", "json", "buggy.c")[1])
    assert len(lines) == 2 and all(ln.startswith("{") for ln in lines)
    assert run(capsys, "--format", "json-lines", "--select", "KAL4", "buggy.c")[:2] == (0, "")


@pytest.mark.parametrize("fmt", ["text", "json", "json-lines", "github", "sarif"])
def test_output_file(buggy, capsys, fmt):
    code, out, _ = run(capsys, "--format", fmt, "--output-file", "report.out", "buggy.c")
    assert (code, out) == (1, "")
    expected = run(capsys, "--format", fmt, "buggy.c")[1]
    written = (buggy / "report.out").read_text(encoding="utf-8")
    if fmt == "sarif":  # the same log; only the invocation could differ
        assert json.loads(written)["runs"][0]["results"] == json.loads(expected)["runs"][0]["results"]
    else:
        assert written == expected


def test_output_file_that_cannot_be_written(buggy, capsys):
    code, _, err = run(capsys, "--output-file", str(buggy / "no" / "such" / "dir.txt"), "buggy.c")
    assert code == 2 and "cannot write" in err


@pytest.mark.parametrize("fmt, parse", [
    ("text", lambda out: [ln.split()[1] for ln in out.splitlines()]),
    ("json", lambda out: [row["code"] for row in json.loads(out)]),
    ("json-lines", lambda out: [json.loads(ln)["code"] for ln in out.splitlines()]),
    ("github", lambda out: [ln.split()[1] for ln in out.split("::", 2)[2].split("%0A")]),
])
def test_statistics_in_each_format(buggy, capsys, fmt, parse):
    code, out, _ = run(capsys, "--format", fmt, "--statistics", "buggy.c")
    assert code == 1
    assert sorted(parse(out)) == ["KAL201", "KAL501"]


def test_statistics_has_no_sarif_form(buggy, capsys):
    code, out, err = run(capsys, "--format", "sarif", "--statistics", "buggy.c")
    assert code == 2 and out == "" and "no SARIF form" in err
