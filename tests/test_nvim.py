"""A real editor as the client: headless Neovim (Debian's `neovim` package) runs examples/nvim/check.lua,
opens a fixture and prints the diagnostics kalloclint-lsp sends it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
NVIM = shutil.which("nvim")


@pytest.mark.skipif(NVIM is None, reason="Neovim is not installed (apt-get install neovim)")
def test_headless_neovim_receives_the_diagnostics(tmp_path: Path):
    fixture = tmp_path / "kal403_alloc_cast.c"
    shutil.copy(ROOT / "tests" / "fixtures" / fixture.name, fixture)
    env = dict(os.environ, KALLOCLINT_LSP=f"{sys.executable} -m kalloclint.lsp", XDG_CACHE_HOME=str(tmp_path),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    done = subprocess.run([NVIM, "--headless", "--clean", "-u", str(ROOT / "examples" / "nvim" / "check.lua"),
                           str(fixture)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.endswith("[KAL403]")]
    assert len(lines) == 12 and lines[0].startswith(f"{fixture}:59:8: cast of kmalloc()"), done.stdout
