"""Values travel to the sandbox as Python source; CRUXEval answers cannot rewrite the check."""

from __future__ import annotations

import ast
import math
import sys

import pytest
from azr_trainer.evals.benchmarks import load_benchmark
from azr_trainer.evals.evalplus import COMPARE_SOURCE, to_source
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
        # code, not data: a predicted output that calls the program, a lambda in an input
        ("cruxeval_o", "f('abc')"),
        ("cruxeval_i", "[1], lambda x: x"),
        ("cruxeval_i", "__import__('builtins')"),
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


@pytest.mark.parametrize(
    "value",
    [10**6000, -(10**6000) + 7, [3**20000, (2**50000,)]],
    ids=["big", "negative", "nested"],
)
def test_huge_ints_are_written_so_that_they_parse(value):
    # A decimal literal over 4,300 digits is refused by the parser (the executor parses test
    # code before running it): such ints go as hex, host side and sandbox side alike.
    assert sys.get_int_max_str_digits() == 4300
    assert _eval_literal(to_source(value)) == value
    namespace: dict = {}
    try:
        exec(COMPARE_SOURCE, namespace)  # it lifts the limit, as the sandbox needs
        in_sandbox = namespace["_azr_src"](value)
    finally:
        sys.set_int_max_str_digits(4300)
    assert _eval_literal(in_sandbox) == value
