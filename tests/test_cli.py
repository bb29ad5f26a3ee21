"""The command-line contract: exit codes, formats, selection, configuration, suppressions, stdin."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kalloclint.cli import main

BUGGY = """\
struct ring { int n; };

static int ring_init(struct ring **out, size_t n)
{
	struct ring *r;

	r = kmalloc(n * sizeof(*r), GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	*out = r;
	return 0;
}
"""
CLEAN = """\
static int ring_init(struct ring **out, size_t n)
{
	*out = kcalloc(n, sizeof(**out), GFP_KERNEL);
	return *out ? 0 : -ENOMEM;
}
"""
JSON_KEYS = {"path", "line", "column", "end_line", "end_column", "code", "name", "severity", "message",
             "fix", "related"}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "drv").mkdir()
    (tmp_path / "drv" / "buggy.c").write_text(BUGGY)
    (tmp_path / "drv" / "clean.c").write_text(CLEAN)
    return tmp_path


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_findings_exit_1_with_text_format(tree, capsys):
    code, out, _ = run_cli(capsys, str(tree / "drv"))
    assert code == 1
    assert out == (f"{tree / 'drv' / 'buggy.c'}:7:14: warning: kmalloc() size 'n * sizeof(*r)' multiplies without "
                   f"an overflow check; use kmalloc_array() [KAL201 alloc-size-multiply]\n")


def test_clean_file_exits_0_and_prints_nothing(tree, capsys):
    assert run_cli(capsys, str(tree / "drv" / "clean.c")) == (0, "", "")


def test_exit_zero(tree, capsys):
    code, out, _ = run_cli(capsys, "--exit-zero", str(tree))
    assert code == 0 and "KAL201" in out


def test_missing_path_exits_2_and_still_checks_the_rest(tree, capsys):
    code, out, err = run_cli(capsys, str(tree / "nope.c"), str(tree / "drv"))
    assert code == 2
    assert "KAL201" in out
    assert "nope.c: no such file or directory" in err


def test_json_format(tree, capsys):
    code, out, _ = run_cli(capsys, "--format", "json", str(tree))
    assert code == 1
    (item,) = json.loads(out)
    assert set(item) == JSON_KEYS
    assert (item["line"], item["column"], item["end_line"], item["end_column"]) == (7, 14, 7, 28)
    assert item["fix"]["applicability"] == "safe"
    assert item["fix"]["edits"] == [
        {"line": 7, "column": 6, "end_line": 7, "end_column": 13, "text": "kmalloc_array"},
        {"line": 7, "column": 14, "end_line": 7, "end_column": 28, "text": "n, sizeof(*r)"},
    ]
    assert item["related"] == []


def test_json_with_no_findings_is_an_empty_array(tree, capsys):
    code, out, _ = run_cli(capsys, "--format", "json", str(tree / "drv" / "clean.c"))
    assert code == 0 and json.loads(out) == []


@pytest.mark.parametrize("selector", ["KAL201", "alloc-size-multiply", "KAL2", "kal201", "ALL"])
def test_ignore_by_code_name_or_prefix(tree, capsys, selector):
    code, out, _ = run_cli(capsys, "--ignore", selector, str(tree))
    assert (code, out) == (0, "")


def test_select_other_rules_only(tree, capsys):
    assert run_cli(capsys, "--select", "KAL4,KAL501", str(tree))[:2] == (0, "")
    assert run_cli(capsys, "--select", "KAL4", "--extend-select", "KAL201", str(tree))[0] == 1


def test_unknown_rule_is_a_usage_error(tree, capsys):
    code, out, err = run_cli(capsys, "--select", "KAL999", str(tree))
    assert code == 2 and out == "" and "unknown rule 'KAL999'" in err


def test_min_severity_hides_warnings(tree, capsys):
    assert run_cli(capsys, "--min-severity", "error", str(tree))[:2] == (0, "")


def test_statistics(tree, capsys):
    code, out, _ = run_cli(capsys, "--statistics", str(tree))
    assert code == 1 and out.split() == ["1", "KAL201", "alloc-size-multiply", "(warning)"]


def test_verbose_says_how_much_code_was_not_parsed(tree, capsys):
    broken = tree / "drv" / "broken.c"
    broken.write_text("static int f(void)\n{\n\tint x = 1 2 3;\n\treturn x;\n}\n")  # ERROR: `2 3`
    total = sum(len(p.read_bytes()) for p in (tree / "drv").iterdir())
    code, _, err = run_cli(capsys, "--verbose", "--no-cache", "-j", "1", str(tree / "drv"))
    assert code == 1
    at = err.index("kalloclint: not parsed")
    assert err[at:].splitlines() == [
        f"kalloclint: not parsed (tree-sitter ERROR nodes, not analysed): 3 bytes of {total:,} "
        f"({300 / total:.2f}%) in 1 file:",
        f"kalloclint:   {broken}: 3 bytes ({300 / len(broken.read_bytes()):.1f}% of the file)"]
    _, _, quiet = run_cli(capsys, "--no-cache", "-j", "1", str(tree / "drv"))
    assert "not parsed" not in quiet


def test_list_rules_and_explain(capsys):
    code, out, _ = run_cli(capsys, "--list-rules")
    assert code == 0 and "KAL201  alloc-size-multiply" in out
    code, out, _ = run_cli(capsys, "--explain", "alloc-size-multiply")
    assert code == 0 and out.startswith("# KAL201 alloc-size-multiply (warning)")
    for heading in ("What it does", "Why is this bad?", "Example", "Use instead", "Fix safety", "References"):
        assert f"## {heading}" in out
    assert run_cli(capsys, "--explain", "KAL999")[0] == 2


def test_no_paths_is_a_usage_error(capsys):
    code, _, err = run_cli(capsys)
    assert code == 2 and "PATH" in err


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.startswith("kalloclint ")


def test_exclude(tree, capsys):
    assert run_cli(capsys, "--exclude", "buggy.c", str(tree))[:2] == (0, "")
    assert run_cli(capsys, "--exclude", "drv", str(tree))[:2] == (0, "")


# -- suppressions ---------------------------------------------------------------------------------

@pytest.mark.parametrize("comment, same_line", [
    ("/* kalloclint: ignore[KAL201] n <= 16 */", True),
    ("// kalloclint: ignore[alloc-size-multiply]", False),
    ("/* kalloclint: ignore[KAL403, KAL201] */", False),
])
def test_inline_suppression(tmp_path, capsys, comment, same_line):
    lines = BUGGY.splitlines()
    if same_line:
        lines[6] += "\t" + comment
    else:
        lines.insert(6, "\t" + comment)
    path = tmp_path / "s.c"
    path.write_text("\n".join(lines) + "\n")
    assert run_cli(capsys, str(path))[:2] == (0, "")


def test_suppression_of_another_rule_does_not_silence(tmp_path, capsys):
    path = tmp_path / "s.c"
    path.write_text(BUGGY.replace("GFP_KERNEL);", "GFP_KERNEL);\t/* kalloclint: ignore[KAL403] */"))
    assert run_cli(capsys, str(path))[0] == 1


def test_ignore_file_and_unused_ignores(tmp_path, capsys):
    path = tmp_path / "s.c"
    path.write_text("/* kalloclint: ignore-file[KAL2] */\n" + BUGGY)
    assert run_cli(capsys, str(path))[:2] == (0, "")
    path.write_text("/* kalloclint: ignore-file[KAL404] */\n" + CLEAN)
    code, out, _ = run_cli(capsys, "--warn-unused-ignores", str(path))
    assert code == 1 and ":1:4: warning: suppression 'KAL404' silences nothing [KAL000 unused-ignore]" in out


# -- configuration --------------------------------------------------------------------------------

def test_pyproject_config_is_found_above_the_path(tree, capsys):
    (tree / "pyproject.toml").write_text('[tool.kalloclint]\nignore = ["KAL201"]\n')
    assert run_cli(capsys, str(tree / "drv"))[:2] == (0, "")


def test_dotfile_config_and_per_file_ignores(tree, capsys):
    (tree / ".kalloclint.toml").write_text('[per-file-ignores]\n"*/buggy.c" = ["alloc-size-multiply"]\n')
    assert run_cli(capsys, str(tree / "drv"))[:2] == (0, "")


def test_config_min_severity_and_cli_override(tree, capsys):
    (tree / ".kalloclint.toml").write_text('min-severity = "error"\n')
    assert run_cli(capsys, str(tree))[0] == 0
    assert run_cli(capsys, "--min-severity", "info", str(tree))[0] == 1


def test_explicit_config(tree, capsys):
    cfg = tree / "other.toml"
    cfg.write_text('select = ["KAL4"]\n')
    assert run_cli(capsys, "--config", str(cfg), str(tree))[:2] == (0, "")
    assert run_cli(capsys, "--config", str(tree / "missing.toml"), str(tree))[0] == 2


@pytest.mark.parametrize("content, message", [
    ('selct = ["KAL2"]\n', "key 'selct': unknown key"),
    ('select = "KAL2"\n', "key 'select': must be a list of strings"),
    ('min-severity = "fatal"\n', "key 'min-severity': must be one of info, warning, error"),
    ('select = ["KAL2"\n', "not valid TOML"),
    ('ignore = ["nonsense"]\n', "unknown rule 'nonsense'"),
])
def test_bad_config_is_one_clear_line(tree, capsys, content, message):
    (tree / ".kalloclint.toml").write_text(content)
    code, out, err = run_cli(capsys, str(tree))
    assert code == 2 and out == ""
    assert message in err and ".kalloclint.toml" in err and len(err.strip().splitlines()) == 1


def test_model_files_extend_the_model(tree, capsys):
    (tree / "model.toml").write_text(
        '[alloc.drv_alloc]\nfamily = "slab"\nlimit = "kmalloc"\nreturns = "void *"\nsize = 0\ngfp = 1\n'
        'array = "drv_alloc_array"\n')
    (tree / ".kalloclint.toml").write_text('model-files = ["model.toml"]\n')
    (tree / "drv" / "own.c").write_text("void f(int n) { void *p = drv_alloc(n * 8, GFP_KERNEL); }\n")
    code, out, _ = run_cli(capsys, str(tree / "drv" / "own.c"))
    assert code == 1 and "drv_alloc() size 'n * 8'" in out and "use drv_alloc_array()" in out


def test_bad_model_file_names_file_and_key(tree, capsys):
    (tree / "model.toml").write_text('[alloc.drv_alloc]\nfamly = "slab"\n')
    (tree / ".kalloclint.toml").write_text('model-files = ["model.toml"]\n')
    code, _, err = run_cli(capsys, str(tree))
    assert code == 2 and "model.toml" in err and "'famly'" in err


# -- stdin and the module entry point ---------------------------------------------------------------

def test_stdin_with_filename():
    proc = subprocess.run([sys.executable, "-m", "kalloclint", "--stdin-filename", "drivers/x.c", "-"],
                          input=BUGGY.encode(), capture_output=True)
    assert proc.returncode == 1
    assert proc.stdout.decode().startswith("drivers/x.c:7:14: warning:")
    assert proc.stderr == b""


def test_chain_through_a_struct_field_names_the_pointer_and_its_target(capsys):
    fixture = Path(__file__).parent / "fixtures" / "tree_indirect"
    _, out, _ = run_cli(capsys, "--select", "KAL103", "--no-cache", "--format", "json", str(fixture))
    messages = {(Path(f["path"]).name, f["line"]): f["message"] for f in json.loads(out)}
    assert "(sa_watchdog() -> sa_dev_reset() -> dev->ops->reset() [= sa_fw_reset()] -> mutex_lock() at " \
           "sa_fw.c:39)" in messages[("sa_watchdog.c", 9)]
