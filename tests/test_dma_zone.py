"""KAL402 knows code of an architecture whose DMA zone is its own addressing limit (s390), by path."""

from __future__ import annotations

from kalloclint.config import Settings
from kalloclint.engine import run
from kalloclint.model import load_model

SOURCE = """
static int ccw_setup(struct ccw_dev *cdev)
{
	cdev->area = kzalloc(64, GFP_KERNEL | GFP_DMA);
	return cdev->area ? 0 : -ENOMEM;
}
"""


def _codes(path) -> list[tuple[int, str]]:
    path.parent.mkdir(parents=True)
    path.write_text(SOURCE)
    result = run([str(path)], Settings(select=["KAL402"]), load_model())
    return [(f.location.line, f.code) for f in result.findings]


def test_zone_flags_in_s390_code_are_its_31_bit_limit(tmp_path):
    assert _codes(tmp_path / "drivers" / "s390" / "cio" / "ccw.c") == []
    assert _codes(tmp_path / "arch" / "s390" / "kernel" / "ccw.c") == []


def test_zone_flags_elsewhere_are_reported(tmp_path):
    assert _codes(tmp_path / "drivers" / "net" / "ccw.c") == [(4, "KAL402")]
    # a directory merely named like the arch is not its code
    assert _codes(tmp_path / "drivers" / "not-s390" / "ccw.c") == [(4, "KAL402")]
