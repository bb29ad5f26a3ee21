"""--fix and --diff: each fixture fixed equals its `.fixed.c` twin, nothing fixable is left, every fixed file
parses as well as before, a second --fix changes nothing; overlaps, parse checks and atomic writes."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from kalloclint import fix
from kalloclint.cli import main
from kalloclint.config import Settings
from kalloclint.engine import run
from kalloclint.findings import Edit, Fix
from kalloclint.model import load_model

FIXTURES = Path(__file__).parent / "fixtures"
TWINS = sorted(FIXTURES.glob("*.fixed.c"))
SOURCES = sorted(p for p in FIXTURES.glob("*.c") if not p.name.endswith(".fixed.c"))


@pytest.fixture(scope="module")
def model():
    return load_model()


def _fixed(path: Path, model) -> bytes:
    result = run([str(path)], Settings(), model)
    fixed = fix.fix_findings(result.findings, Settings(), model)
    return fixed[0].after if fixed else path.read_bytes()


UPDATE = os.environ.get("KALLOCLINT_UPDATE_TWINS")  # =1: write the twins from the current fixes


@pytest.mark.parametrize("twin", TWINS, ids=lambda p: p.name)
def test_fixture_fixed_equals_its_twin(twin: Path, model):
    source = twin.with_name(twin.name.replace(".fixed.c", ".c"))
    if UPDATE:
        twin.write_bytes(_fixed(source, model))
    assert _fixed(source, model).decode() == twin.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_fixed_fixture_has_nothing_fixable_left_and_parses(path: Path, model):
    after = _fixed(path, model)
    errors = fix.error_counter(str(path), model)
    assert errors(after) <= errors(path.read_bytes())
    again = run([], Settings(), model, stdin=(str(path), after))
    assert [f for f in again.findings if fix.wanted(f.fix, unsafe=False)] == []


def test_every_fixture_with_fixes_has_a_twin(model):
    missing = [p.name for p in SOURCES if _fixed(p, model) != p.read_bytes()
               and not p.with_name(p.name[:-2] + ".fixed.c").exists()]
    if UPDATE:
        for name in missing:
            (FIXTURES / name[:-2]).with_suffix(".fixed.c").write_bytes(_fixed(FIXTURES / name, model))
        missing = []
    assert not missing


@pytest.fixture
def copies(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)  # the result cache, if any, lands here
    (tmp_path / "src").mkdir()
    tmp_path = tmp_path / "src"
    for name in ("kal201_alloc_size_multiply.c", "kal401_prefer_zeroing_alloc.c", "kal404_needless_free_check.c",
                 "kal101_sleeping_gfp_in_atomic.c"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    return tmp_path


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.iterdir())}


def test_diff_writes_nothing_and_exits_1(copies: Path, capsys):
    before = _snapshot(copies)
    assert main(["--diff", str(copies)]) == 1
    out = capsys.readouterr().out
    assert "-\tmemset(ctx, 0, sizeof(*ctx));" in out and "+++ b/" in out
    assert _snapshot(copies) == before


def test_fix_twice_changes_nothing_the_second_time(copies: Path, capsys):
    os.chmod(copies / "kal201_alloc_size_multiply.c", 0o640)
    main(["--fix", str(copies)])
    first = _snapshot(copies)
    assert first["kal201_alloc_size_multiply.c"] == (FIXTURES / "kal201_alloc_size_multiply.fixed.c").read_bytes()
    assert stat.S_IMODE(os.stat(copies / "kal201_alloc_size_multiply.c").st_mode) == 0o640
    unsafe_only = (FIXTURES / "kal101_sleeping_gfp_in_atomic.c").read_bytes()
    assert first["kal101_sleeping_gfp_in_atomic.c"] == unsafe_only  # not without --unsafe-fixes
    main(["--fix", str(copies)])
    assert _snapshot(copies) == first
    capsys.readouterr()
    assert main(["--diff", str(copies)]) == 0
    assert capsys.readouterr().out == ""
    assert not [p for p in copies.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_unsafe_fixes_are_applied_only_when_asked(copies: Path, capsys):
    main(["--fix", "--unsafe-fixes", "--select", "KAL101", str(copies)])
    after = (copies / "kal101_sleeping_gfp_in_atomic.c").read_bytes()
    assert after.count(b"GFP_ATOMIC") > (FIXTURES / "kal101_sleeping_gfp_in_atomic.c").read_bytes().count(b"GFP_ATOMIC")


def test_fix_from_stdin_is_refused_but_diff_works(monkeypatch, capsys):
    import io
    data = (FIXTURES / "kal403_alloc_cast.c").read_bytes()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert main(["--diff", "--stdin-filename", "x.c", "-"]) == 1
    assert "+++ b/x.c" in capsys.readouterr().out


def test_overlapping_fixes_one_wins_in_a_fixed_order():
    data = b"abcdefgh\n"
    first = Fix("first", "safe", (Edit(1, 4, "X"),))
    second = Fix("second", "safe", (Edit(3, 6, "Y"),))
    apart = Fix("apart", "safe", (Edit(7, 8, "Z"),))
    for order in ([first, second, apart], [apart, second, first]):
        chosen = fix.choose(data, order)
        assert chosen == [first, apart]
        assert fix.apply(data, chosen) == b"aXefgZ\n"


def test_a_deleted_statement_takes_its_blank_line_with_it():
    data = b"\tx = 1;\n\tmemset(p, 0, n);\n\ty = 2;\n"
    start = data.index(b"memset")
    gone = Fix("drop", "safe", (Edit(start, data.index(b";", start) + 1, ""),))
    assert fix.apply(data, [gone]) == b"\tx = 1;\n\ty = 2;\n"


def test_a_fix_that_makes_parsing_worse_is_dropped(model):
    data = b"int f(void)\n{\n\treturn 0;\n}\n"
    good = Fix("good", "safe", (Edit(data.index(b"0"), data.index(b"0") + 1, "1"),))
    bad = Fix("bad", "safe", (Edit(0, 3, "int ) ( {"),))
    text, applied = fix.fix_text(data, [good, bad], fix.error_counter("t.c", model))
    assert applied == 1 and text == data.replace(b"0", b"1")


def test_write_atomically_refuses_a_file_changed_meanwhile(tmp_path: Path):
    path = tmp_path / "a.c"
    path.write_bytes(b"new")
    with pytest.raises(OSError):
        fix.write_atomically(str(path), b"fixed", b"old")
    assert path.read_bytes() == b"new"


def test_continuation_lines_follow_a_renamed_call_in_kernel_style():
    data = b"\tp =\n\t\tkmalloc_array(n, /* why */\n\t\t\t      sizeof(*p), GFP_KERNEL);\n\tq = f(p,\n\t      1);\n"
    start = data.index(b"kmalloc_array")
    rename = Fix("rename", "safe", (Edit(start, start + len("kmalloc_array"), "kcalloc"),))
    assert fix.apply(data, [rename]) == \
        b"\tp =\n\t\tkcalloc(n, /* why */\n\t\t\tsizeof(*p), GFP_KERNEL);\n\tq = f(p,\n\t      1);\n"


def test_a_line_made_too_long_is_wrapped_after_an_argument():
    head = b"\tp->descs = "
    call = b"kmalloc(p->number_of_descriptors * sizeof(struct long_desc_name_xy), GFP_KERNEL);\n"
    data = head + call
    assert fix._width(data.rstrip()) == 100
    start = len(head)
    times = start + call.index(b" * ")
    grow = Fix("grow", "safe", (Edit(start, start + len("kmalloc("), "kmalloc_array("), Edit(times, times + 3, ", ")))
    assert fix.apply(data, [grow]) == (b"\tp->descs = kmalloc_array(p->number_of_descriptors, "
                                       b"sizeof(struct long_desc_name_xy),\n"
                                       b"\t\t\t\t GFP_KERNEL);\n")


def test_a_line_is_not_broken_inside_a_comment_or_string():
    assert fix._broken(b'\tx = f(a, "b, c"); /* ' + b"y" * 80 + b", z */") is None


def test_a_size_rewritten_across_lines_is_wrapped_and_its_call_realigned():
    data = (b"\tring->slots = krealloc(ring->slots, slot_count(ring) *\n"
            b"\t\t\t       sizeof(struct ring_slot_descriptor),\n"
            b"\t\t\t       GFP_KERNEL);\n")
    start = data.index(b"krealloc")
    size = data.index(b"slot_count")
    rewrite = Fix("array", "safe", (Edit(start, data.index(b"(", start), "krealloc_array"),
                                    Edit(size, data.index(b"),\n\t\t\t       GFP") + 1,
                                         "slot_count(ring), sizeof(struct ring_slot_descriptor)")))
    assert fix.apply(data, [rewrite]) == (b"\tring->slots = krealloc_array(ring->slots, slot_count(ring),\n"
                                          b"\t\t\t\t     sizeof(struct ring_slot_descriptor),\n"
                                          b"\t\t\t\t     GFP_KERNEL);\n")
