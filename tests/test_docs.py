"""The README's rule table is generated from the rules' docstrings, and every docstring has the headings."""

from __future__ import annotations

from pathlib import Path

from kalloclint.checks import HEADINGS, all_checks
from kalloclint.docs import update_readme

README = Path(__file__).parent.parent / "README.md"


def test_readme_rule_table_is_current():
    text = README.read_text(encoding="utf-8")
    assert update_readme(text) == text, "run `python -m kalloclint.docs --write`"


def test_every_rule_documents_itself_in_the_house_headings():
    for check in all_checks():
        doc = check.doc()
        positions = [doc.find(f"## {h}\n") for h in HEADINGS]
        assert all(p >= 0 for p in positions), f"{check.code} lacks a heading"
        assert positions == sorted(positions), f"{check.code} headings out of order"
        assert all(check.section(h) for h in HEADINGS), f"{check.code} has an empty section"
        assert check.code.startswith("KAL") and check.name == check.name.lower()
        assert check.severity in ("info", "warning", "error")


def test_codes_and_names_are_unique():
    checks = all_checks()
    assert len({c.code for c in checks}) == len(checks)
    assert len({c.name for c in checks}) == len(checks)
