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
SINGLE_FILE = sorted(p for p in FIXTURES.glob("*.c") if not p.name.endswith(".fixed.c"))  # twins: test_fix.py
TREES = sorted(p for p in FIXTURES.iterdir() if p.is_dir() and p.name.startswith("tree_"))
ALL_FILES = SINGLE_FILE + sorted(f for tree in TREES for f in tree.glob("*.[ch]"))
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


@pytest.mark.parametrize("tree", TREES, ids=lambda p: p.name)
@pytest.mark.parametrize("jobs", [1, 2])
def test_tree_fixture_reports_exactly_what_is_annotated(tree: Path, jobs: int, model):
    """A directory fixture is checked as one tree: its files see each other's functions."""
    result = run([str(tree)], Settings(), model, jobs=jobs)
    assert not [d for d in result.diagnostics if d.fatal], result.diagnostics
    got = {(Path(f.path).name, f.location.line, f.code) for f in result.findings}
    want = {(f.name, line, code) for f in tree.glob("*.[ch]") for line, code in expected(f)}
    assert not (want - got) and not (got - want), f"missing: {sorted(want - got)}\nunexpected: {sorted(got - want)}"


@pytest.mark.parametrize("tree", TREES, ids=lambda p: p.name)
def test_tree_results_do_not_depend_on_file_order(tree: Path, model):
    files = sorted(str(f) for f in tree.glob("*.[ch]"))
    forward = run(files, Settings(), model)
    backward = run(files[::-1], Settings(), model, jobs=2)
    assert [(f.path, f.location, f.code, f.message) for f in forward.findings] == \
        [(f.path, f.location, f.code, f.message) for f in backward.findings]


def test_every_rule_has_three_positives_and_three_reasoned_negatives():
    positives: Counter[str] = Counter()
    ok: Counter[str] = Counter()
    for path in ALL_FILES:
        positives.update(code for _, code in expected(path))
        for line, code, reason in negatives(path):
            assert reason, f"{path.name}:{line}: a negative case needs a reason"
            ok[code] += 1
    for check in all_checks():
        if check.code == "KAL000":
            continue
        assert positives[check.code] >= 3, f"{check.code} has {positives[check.code]} positive cases"
        assert ok[check.code] >= 3, f"{check.code} has {ok[check.code]} negative cases"


def test_parallel_workers_give_the_same_findings(model):
    """All fixtures as one run (enough files for worker processes): -j 2 equals -j 1."""
    one = run([str(FIXTURES)], Settings(), model, jobs=1)
    two = run([str(FIXTURES)], Settings(), model, jobs=2)
    assert len(ALL_FILES) >= 8 and one.findings
    assert [(f.path, f.location, f.code, f.message, f.related) for f in one.findings] == \
        [(f.path, f.location, f.code, f.message, f.related) for f in two.findings]
