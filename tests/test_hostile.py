"""Hostile input never crashes or hangs a run: huge, deep or garbled files get checked or one clear line."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kalloclint.analysis.context import FileContext
from kalloclint.analysis.summary import build_summary
from kalloclint.checks import all_checks
from kalloclint.config import Settings
from kalloclint.engine import run
from kalloclint.frontend.extract import extract
from kalloclint.model import load_model
from kalloclint.source import SourceError, source_from_bytes

FIXTURES = Path(__file__).parent / "fixtures"
MODEL = load_model()
SEEDS = [p.read_bytes() for p in sorted(FIXTURES.glob("*.c"))]


def test_many_functions(tmp_path):
    path = tmp_path / "many.c"
    path.write_text("".join(f"static int f{i}(int x) {{ return x + {i}; }}\n" for i in range(20000))
                    + "void g(int n) { void *p = kmalloc(n * 4, GFP_KERNEL); }\n")
    result = run([str(path)], Settings(), MODEL)
    assert [f.code for f in result.findings] == ["KAL201"] and not result.diagnostics


def test_deep_nesting_is_one_line_not_a_crash(tmp_path):
    parens = tmp_path / "parens.c"
    parens.write_text("int f(void) { return " + "(" * 200000 + "1" + ")" * 200000 + "; }\n")
    blocks = tmp_path / "blocks.c"
    blocks.write_text("void f(void) " + "{" * 50000 + "kfree(p);" + "}" * 50000 + "\n")
    result = run([str(parens), str(blocks)], Settings(), MODEL)
    assert not result.findings
    assert [str(d) for d in result.diagnostics] == [f"{blocks}: nested too deeply to analyse, skipped"]


def test_symlink_loops_and_special_files_do_not_hang(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "loop").symlink_to(tmp_path)
    (tmp_path / "a" / "self.c").symlink_to(tmp_path / "a" / "self.c")
    os.mkfifo(tmp_path / "a" / "pipe.c")
    (tmp_path / "a" / "ok.c").write_text("void f(void) {}")  # no final newline
    result = run([str(tmp_path)], Settings(), MODEL)
    assert not result.findings
    assert [d.message for d in result.diagnostics] == ["not a regular file (FIFO, socket or device), skipped"]


def _mutate(data: bytes, cuts: list[tuple[int, int, bytes]]) -> bytes:
    out = bytearray(data)
    for position, length, insert in cuts:
        at = position % (len(out) + 1)
        out[at:at + length % 64] = insert
    return bytes(out)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, len(SEEDS) - 1),
       cuts=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 200),
                               st.sampled_from([b"", b"{", b"}", b"(", b")", b";", b'"', b"/*", b"#if 0\n",
                                                b"\xff\xfe", b"spin_lock(&l);", b"GFP_KERNEL |", b"->",
                                                b"kfree(", b"\n#define X(", b"goto out;", b"out:"])),
                     max_size=6))
def test_fuzzed_fixtures_never_raise(seed, cuts):
    """Mutated fixtures go through the front end, every rule and the summary without an exception."""
    _check_everything(_mutate(SEEDS[seed], cuts))


def test_a_call_whose_callee_is_a_call_is_not_taken_for_the_free_it_wraps():
    """Found by the fuzzer: `->` before the file and a lost `)` made `kfree(priv->tx_buf)` the callee of
    a call starting at the same byte as the free (KeyError in the lifetime rules)."""
    data = (FIXTURES / "kal404_needless_free_check.c").read_bytes()
    _check_everything(_mutate(data, [(0, 0, b"->"), (1558, 1, b"")]))


def _check_everything(data: bytes) -> None:
    try:
        source = source_from_bytes("fuzz.c", data)
    except SourceError:
        return
    facts = extract(source, MODEL)
    ctx = FileContext(facts, MODEL)
    for check in all_checks():
        list(check.run(ctx))
    build_summary(ctx)


def test_a_rule_that_runs_too_long_is_stopped():
    import pytest

    from kalloclint.budget import OverBudget, time_budget

    with pytest.raises(OverBudget):
        with time_budget(0.2):
            while True:
                pass
