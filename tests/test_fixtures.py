"""Every fixture reports exactly the (line, code) pairs annotated in it: recall and precision at once."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from annotations import archs, expected, negatives

from kalloclint.checks import all_checks
from kalloclint.config import Settings
from kalloclint.engine import run
from kalloclint.model import load_model

FIXTURES = Path(__file__).parent / "fixtures"
SINGLE_FILE = sorted(p for p in FIXTURES.glob("*.c"))
RUNS = [(p, arch) for p in SINGLE_FILE for arch in archs(p)]


@pytest.fixture(scope="module")
def model():
    return load_model()


@pytest.mark.parametrize("path,arch", RUNS, ids=[f"{p.name}-{a}" if a else p.name for p, a in RUNS])
def test_fixture_reports_exactly_what_is_annotated(path: Path, arch: str | None, model):
    result = run([str(path)], Settings(arch=arch), model)
    assert not [d for d in result.diagnostics if d.fatal], result.diagnostics
    got = {(f.location.line, f.code) for f in result.findings}
    want = expected(path, arch)
    missing = sorted(want - got)
    unexpected = sorted((line, code, next(f.message for f in result.findings
                                          if (f.location.line, f.code) == (line, code)))
                        for line, code in got - want)
    assert not missing and not unexpected, f"missing: {missing}\nunexpected: {unexpected}"


def test_every_rule_has_three_positives_and_three_reasoned_negatives():
    positives: Counter[str] = Counter()
    ok: Counter[str] = Counter()
    for path in SINGLE_FILE:
        positives.update(code for _, code in expected(path))
        for line, code, reason in negatives(path):
            assert reason, f"{path.name}:{line}: a negative case needs a reason"
            ok[code] += 1
    for check in all_checks():
        if check.code == "KAL000":
            continue
        assert positives[check.code] >= 3, f"{check.code} has {positives[check.code]} positive cases"
        assert ok[check.code] >= 3, f"{check.code} has {ok[check.code]} negative cases"
