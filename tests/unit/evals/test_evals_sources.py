"""Values travel to the sandbox as Python source; CRUXEval answers cannot rewrite the check."""

from __future__ import annotations

import ast
import math

import pytest
from azr_trainer.evals.benchmarks import load_benchmark
from azr_trainer.evals.evalplus import to_source
from azr_trainer.evals.scoring import cruxeval_test


def _eval_literal(src):
    # Non-finite floats are written as float('inf'): evaluate with only `float` in scope.
    return eval(
        compile(ast.parse(src, mode="eval"), "<src>", "eval"),
        {"__builtins__": {}, "float": float, "complex": complex, "set": set},
    )


@pytest.mark.parametrize(
    "value",
    [
        1,
        -2.5,
        "a'b\n",
        b"x",
        None,
        True,
        (1,),
        (),
        [1, (2, 3)],
        {1, 2},
        set(),
        {"k": [1.0]},
        complex(1, -2),
        [float("inf"), -float("inf")],
        ({1: (2,)},),
    ],
)
def test_to_source_round_trips(value):
    assert _eval_literal(to_source(value)) == value


def test_nan_round_trips_as_nan():
    assert math.isnan(_eval_literal(to_source(float("nan"))))


def test_every_mbpp_plus_input_is_writable():
    for p in load_benchmark("mbppplus"):
        for args in p.tests[:50]:
            to_source(list(args))


@pytest.mark.parametrize(
    ("kind", "answer"),
    [
        ("cruxeval_i", "1) or True or (1"),
        ("cruxeval_i", "1\nimport os"),
        ("cruxeval_i", "*[1]) == f(*[1]"),
        ("cruxeval_o", "1) or (1"),
        ("cruxeval_o", "1\n2"),
    ],
)
def test_injected_answers_are_rejected(kind, answer):
    problem = load_benchmark(kind, limit=1)[0]
    assert cruxeval_test(problem, answer) is None


def test_gold_answers_become_one_assertion():
    o = load_benchmark("cruxeval_o", limit=1)[0]
    assert cruxeval_test(o, o.gold[0]) == f"assert ({o.meta['output']}) == ({o.gold[0]})"
    i = load_benchmark("cruxeval_i", limit=1)[0]
    assert cruxeval_test(i, i.gold[0]).startswith(f"assert f({i.gold[0]}) == ")
