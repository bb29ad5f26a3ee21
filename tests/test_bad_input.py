"""Bad input gets one clear line on stderr and the run goes on; nothing crashes or prints a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

GOOD = "static void f(int n) { void *p = kmalloc(n * 8, GFP_KERNEL); }\n"


def kalloclint(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kalloclint", *args], input=stdin, capture_output=True,
                          timeout=60)


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    (tmp_path / "good.c").write_text(GOOD)
    (tmp_path / "empty.c").write_bytes(b"")
    (tmp_path / "binary.c").write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4)
    (tmp_path / "latin1.c").write_bytes(b"/* caf\xe9 */\n" + GOOD.replace("f(", "g(").encode())
    (tmp_path / "dir.c").mkdir()
    (tmp_path / "dir.c" / "inner.c").write_text(GOOD.replace("f(", "h("))
    os.mkfifo(tmp_path / "fifo.c")
    (tmp_path / "dangling.c").symlink_to(tmp_path / "does-not-exist.c")
    (tmp_path / "loop").symlink_to(tmp_path)
    (tmp_path / "no_newline.c").write_bytes(GOOD.rstrip("\n").replace("f(", "k(").encode())
    (tmp_path / "garbage.c").write_text("}}}} int (( [ kmalloc(,,, GFP_KERNEL | ;\n{{{{\n")
    return tmp_path


def test_directory_with_hostile_files(hostile: Path):
    proc = kalloclint(str(hostile))
    err = proc.stderr.decode()
    out = proc.stdout.decode()
    assert "Traceback" not in err
    assert proc.returncode == 1
    # the four good functions (good.c, latin1.c, dir.c/inner.c, no_newline.c) are all checked
    assert sum("KAL201" in line for line in out.splitlines()) == 4
    assert "fifo.c: not a regular file" in err
    assert "binary.c: binary file" in err
    assert "latin1.c: not valid UTF-8" in err
    for line in err.splitlines():
        assert line.startswith("kalloclint: ")


@pytest.mark.parametrize("name, message", [
    ("binary.c", "binary file (contains NUL bytes), skipped"),
    ("fifo.c", "not a regular file (FIFO, socket or device), skipped"),
    ("dangling.c", "no such file (or a dangling symbolic link)"),
])
def test_named_bad_file_gets_one_line(hostile: Path, name: str, message: str):
    proc = kalloclint(str(hostile / name), str(hostile / "good.c"))
    err = proc.stderr.decode().strip().splitlines()
    assert err == [f"kalloclint: {hostile / name}: {message}"]
    assert proc.returncode == 1  # the good file's finding is still reported


def test_empty_file_and_garbage_are_simply_checked(hostile: Path):
    proc = kalloclint(str(hostile / "empty.c"), str(hostile / "garbage.c"))
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")


def test_binary_on_stdin():
    proc = kalloclint("-", stdin=b"\x00\x01\x02garbage")
    assert proc.returncode == 0 and proc.stderr.decode().strip() == \
        "kalloclint: <stdin>: binary file (contains NUL bytes), skipped"


def test_columns_count_characters_not_bytes(tmp_path: Path):
    path = tmp_path / "u.c"
    path.write_text("void f(int n) { /* é */ void *p = kmalloc(n * 8, GFP_KERNEL); }\n", encoding="utf-8")
    out = kalloclint(str(path)).stdout.decode()
    assert out.startswith(f"{path}:1:43:")  # the byte column would be 44
