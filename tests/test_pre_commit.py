"""The pre-commit hook, run by the real pre-commit framework (`pre-commit try-repo`).

pre-commit builds the hook's environment from the repository (pip install from PyPI), so this test
needs the network; it takes a few seconds with a warm pip cache. A snapshot of the working tree is
committed to a temporary repository and tried from there: that tests the code as it is on disk,
uncommitted and untracked files included, whatever the state of the checkout's git index.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CLEAN = "static int ring_init(void **out, size_t n)\n{\n\t*out = kcalloc(n, 8, GFP_KERNEL);\n\treturn 0;\n}\n"
BUGGY = "static int ring_init(void **out, size_t n)\n{\n\t*out = kmalloc(n * 8, GFP_KERNEL);\n\treturn 0;\n}\n"


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    env["PRE_COMMIT_HOME"] = str(tmp_path / "pre-commit-home")
    return env


def _git(cwd: Path, env: dict[str, str], *args: str) -> str:
    proc = subprocess.run(["git", "-c", "user.name=kalloclint-test", "-c", "user.email=test@example.com",
                           "-c", "commit.gpgsign=false", *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory) -> Path:
    """The working tree's files (tracked or not, minus the ignored ones), committed to a fresh repository."""
    if importlib.util.find_spec("pre_commit") is None:
        pytest.fail("pre-commit is not installed: python3 -m pip install '.[test]'")
    tmp = tmp_path_factory.mktemp("hook")
    env = _env(tmp)
    snapshot = tmp / "kalloclint"
    listed = _git(REPO, env, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, snapshot / name)
    _git(snapshot, env, "init", "-q")
    _git(snapshot, env, "add", ".")
    _git(snapshot, env, "commit", "-q", "-m", "snapshot")
    return snapshot


def try_repo(hook_repo: Path, tmp_path: Path, name: str, text: str) -> subprocess.CompletedProcess:
    env = _env(tmp_path)
    work = tmp_path / "work"
    (work / "drivers").mkdir(parents=True)
    (work / "drivers" / name).write_text(text)
    (work / "drivers" / "notes.txt").write_text("kmalloc(n * 8, GFP_KERNEL) in prose is not C\n")
    _git(work, env, "init", "-q")
    _git(work, env, "add", ".")
    return subprocess.run([sys.executable, "-m", "pre_commit", "try-repo", str(hook_repo), "kalloclint",
                           "--all-files", "--color", "never"], cwd=work, env=env, capture_output=True, text=True,
                          timeout=300)


def test_hook_passes_a_clean_file(hook_repo, tmp_path):
    proc = try_repo(hook_repo, tmp_path, "clean.c", CLEAN)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "kalloclint" in proc.stdout and "Passed" in proc.stdout


def test_hook_fails_a_file_with_findings_and_prints_them(hook_repo, tmp_path):
    proc = try_repo(hook_repo, tmp_path, "buggy.h", BUGGY)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Failed" in proc.stdout
    assert ("drivers/buggy.h:3:17: warning: kmalloc() size 'n * 8' multiplies without an overflow check; "
            "use kmalloc_array() [KAL201 alloc-size-multiply]") in proc.stdout
    assert "notes.txt" not in proc.stdout


def test_manifest_is_valid_for_pre_commit():
    from pre_commit.clientlib import load_manifest

    (hook,) = load_manifest(str(REPO / ".pre-commit-hooks.yaml"))
    assert (hook["id"], hook["language"], hook["entry"]) == ("kalloclint", "python", "kalloclint")
    assert hook["types"] == ["c"] and hook["require_serial"] is True
