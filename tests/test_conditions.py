"""What a branch condition says about a function's parameters (conditions.param_conditions)."""

from __future__ import annotations

import pytest

from kalloclint.analysis.conditions import Cond, holds, param_conditions
from kalloclint.frontend.exprparse import ExpressionParser
from kalloclint.model import load_model

PARAMS = {"len": 0, "flags": 1, "mode": 2, "c": 3}
VALUES = {"SMALL": 64, "ASYNC": 1, "MODE_SLEEP": 2, "0": 0, "3": 3}


@pytest.fixture(scope="module")
def parse():
    return ExpressionParser(load_model().macros).parse


def outcomes(parse, text: str):
    return param_conditions(parse(text), PARAMS, lambda e: VALUES.get(e.text.strip()),
                            lambda e: e.text.strip() in VALUES or e.text.isupper(), frozenset({"unlikely"}))


@pytest.mark.parametrize("text,true,false", [
    ("len > SMALL", (Cond(0, ">", 64),), (Cond(0, "<=", 64),)),
    ("SMALL < len", (Cond(0, ">", 64),), (Cond(0, "<=", 64),)),
    ("mode == MODE_SLEEP", (Cond(2, "==", 2),), (Cond(2, "!=", 2),)),
    ("flags & ASYNC", (Cond(1, "&", 1),), (Cond(1, "!&", 1),)),
    ("!(flags & ASYNC)", (Cond(1, "!&", 1),), (Cond(1, "&", 1),)),
    ("(flags & ASYNC) == 0", (Cond(1, "!&", 1),), (Cond(1, "&", 1),)),
    ("unlikely(len > SMALL)", (Cond(0, ">", 64),), (Cond(0, "<=", 64),)),
    ("len > SMALL && mode == MODE_SLEEP", (Cond(0, ">", 64), Cond(2, "==", 2)), None),
    ("len > SMALL || mode == MODE_SLEEP", None, (Cond(0, "<=", 64), Cond(2, "!=", 2))),
    ("len > c->len", (), ()),  # data the caller does not pass: nothing it can rule out
    ("len > mode", None, None),  # two parameters
    ("len > UNFOLDED", None, None),  # a constant that does not fold
    ("!c->flags", None, None),  # no parameter's value: not a test this reads
])
def test_conditions_on_each_outcome(parse, text, true, false):
    assert outcomes(parse, text) == (true, false)


def test_holds():
    assert holds(Cond(0, ">", 64), 128) and not holds(Cond(0, ">", 64), 16)
    assert holds(Cond(1, "&", 1), 5) and holds(Cond(1, "!&", 1), 4)
