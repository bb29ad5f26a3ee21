"""--changed-since REV: only findings on lines added or changed since REV, from a whole-tree analysis."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from kalloclint import cli
from kalloclint.changes import parse_diff, unquote
from kalloclint.cli import main
from kalloclint.engine import run

HELPER = "void helper_wait(void)\n{\n\tmsleep(10);\n}\n"
USER = """\
static DEFINE_SPINLOCK(lock);

void user(void **p, size_t n)
{
	*p = kmalloc(n * 8, GFP_KERNEL);
	spin_lock(&lock);
	spin_unlock(&lock);
}
"""


def git(repo: Path, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false",
                    *args], cwd=repo, check=True, capture_output=True, env=env)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch) -> Path:
    (tmp_path / "drv").mkdir()
    (tmp_path / "drv" / "helper.c").write_text(HELPER)
    (tmp_path / "drv" / "user.c").write_text(USER)
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "legacy")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def findings(capsys, *argv: str) -> tuple[int, list[tuple[str, int, str]]]:
    code = main(["--format", "json", *argv])
    out = capsys.readouterr().out
    return code, [(f["path"], f["line"], f["code"]) for f in json.loads(out)] if out else []


def test_only_changed_lines_are_reported(repo, capsys):
    (repo / "drv" / "user.c").write_text(USER.replace("\tspin_unlock", "\tp[1] = kmalloc(n * 4, GFP_KERNEL);\n"
                                                                     "\tspin_unlock"))
    assert [f[:2] for f in findings(capsys, "drv")[1]] == [("drv/user.c", 5), ("drv/user.c", 7), ("drv/user.c", 7)]
    code, shown = findings(capsys, "--changed-since", "HEAD", "drv")
    assert (code, sorted(shown)) == (1, [("drv/user.c", 7, "KAL101"), ("drv/user.c", 7, "KAL201")])


def test_the_whole_tree_is_still_analysed(repo, capsys, monkeypatch):
    (repo / "drv" / "user.c").write_text(USER.replace("n * 8", "n * 2"))
    analysed = []

    def spy(paths, *args, **kwargs):
        analysed.extend(paths)
        return run(paths, *args, **kwargs)

    monkeypatch.setattr(cli, "run", spy)
    assert findings(capsys, "--changed-since", "HEAD", "drv") == (1, [("drv/user.c", 5, "KAL201")])
    assert analysed == ["drv"]


def test_nothing_changed_means_nothing_shown(repo, capsys):
    assert findings(capsys, "--changed-since", "HEAD", "drv") == (0, [])


def test_committed_changes_since_an_older_revision(repo, capsys):
    (repo / "drv" / "user.c").write_text("/* moved down */\n" + USER.replace("n * 8", "n * 4"))
    git(repo, "commit", "-q", "-am", "change")
    assert findings(capsys, "--changed-since", "HEAD", "drv") == (0, [])
    assert findings(capsys, "--changed-since", "HEAD~1", "drv") == (1, [("drv/user.c", 6, "KAL201")])


def test_untracked_files_count_as_changed(repo, capsys):
    (repo / "drv" / "new.c").write_text(USER)
    assert findings(capsys, "--changed-since", "HEAD", "drv") == (1, [("drv/new.c", 5, "KAL201")])


def test_from_a_subdirectory(repo, capsys, monkeypatch):
    (repo / "drv" / "user.c").write_text(USER.replace("n * 8", "n * 2"))
    monkeypatch.chdir(repo / "drv")
    assert findings(capsys, "--changed-since", "HEAD", ".") == (1, [("./user.c", 5, "KAL201")])


def test_unknown_revision_is_a_usage_error(repo, capsys):
    assert main(["--changed-since", "no-such-branch", "drv"]) == 2
    assert "'no-such-branch' is not a commit" in capsys.readouterr().err


def test_outside_a_git_repository_is_a_usage_error(tmp_path, capsys, monkeypatch):
    (tmp_path / "a.c").write_text(USER)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert main(["--changed-since", "HEAD", str(tmp_path / "a.c")]) == 2
    assert "git rev-parse failed" in capsys.readouterr().err


def test_parse_diff():
    diff = "\n".join([
        "diff --git a/x.c b/x.c",
        "--- a/x.c",
        "+++ b/x.c",
        "@@ -3 +3,2 @@ int f(void)",
        "-old",
        "+++ this added line looks like a header",
        "+@@ -1 +1 @@ and so does this one",
        "@@ -10,2 +11,0 @@",
        "-gone",
        "-gone too",
        "@@ -20,0 +20 @@",
        "+last",
        "\\ No newline at end of file",
        "diff --git a/gone.c b/gone.c",
        "--- a/gone.c",
        "+++ /dev/null",
        "@@ -1 +0,0 @@",
        "-x",
        'diff --git "a/sp ace\\303\\251.c" "b/sp ace\\303\\251.c"',
        '--- "a/sp ace\\303\\251.c"',
        '+++ "b/sp ace\\303\\251.c"',
        "@@ -0,0 +1 @@",
        "+y",
    ])
    assert parse_diff(diff) == {"x.c": {3, 4, 20}, "sp aceé.c": {1}}


def test_unquote():
    assert unquote('"a\\tb\\\\c\\"d"') == 'a\tb\\c"d'
    assert unquote("plain.c") == "plain.c"
