"""Oracle run of the math harness: gold answers written in the paper's format score 100%,
perturbed answers 0%.

The whole 1,547-problem oracle takes about 30 s (plus about 60 s perturbed, math-verify timeouts
on Minerva dominate), so this test takes a fixed subset: every problem of AIME24, AIME25 and
AMC23 and every 7th of MATH500, every 14th of OlympiadBench and every 17th of Minerva Math. `python bench/eval.py --math`
runs all of them. `eval_math_oracle_exceptions.json` lists any gold answer that cannot score (none
today); a listed problem must fail, so the list cannot go stale.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from azr_trainer.evals.benchmarks import MATH_BENCHMARKS, load_benchmark
from azr_trainer.evals.extraction import extract_math_answer
from azr_trainer.evals.math_grading import grade_math

EXCEPTIONS = json.loads((Path(__file__).with_name("eval_math_oracle_exceptions.json")).read_text())
SMALL = ("aime24", "aime25", "amc23")
# Minerva's unit-laden answers are the slowest for math-verify: a sparser sample there.
STRIDE = {"math500": 7, "olympiadbench": 14, "minerva_math": 17}

pytestmark = pytest.mark.slow


def _subset(name):
    problems = load_benchmark(name)
    return problems if name in SMALL else problems[:: STRIDE[name]]


def _perturb(problems, i):
    gold = problems[i].gold[0].strip()
    try:
        return str(int(gold) + 1)
    except ValueError:
        return problems[(i + 1) % len(problems)].gold[0]


@pytest.mark.parametrize("name", MATH_BENCHMARKS)
def test_gold_answers_score_every_point(name):
    listed = set(EXCEPTIONS.get(name, {}))
    failed = set()
    for p in _subset(name):
        completion = (
            f"Let me think. </think>\n<answer>So the answer is \\boxed{{{p.gold[0]}}}.</answer>"
        )
        if not grade_math(extract_math_answer(completion), p.gold):
            failed.add(p.id)
    assert failed == listed & {p.id for p in _subset(name)}


@pytest.mark.parametrize("name", MATH_BENCHMARKS)
def test_perturbed_answers_score_nothing(name):
    problems = _subset(name)
    wrongly_right = [
        p.id
        for i, p in enumerate(problems)
        if grade_math(
            extract_math_answer(f"<answer>\\boxed{{{_perturb(problems, i)}}}</answer>"), p.gold
        )
    ]
    assert wrongly_right == []


def test_answers_outside_the_answer_tag_are_read_from_boxed_then_display():
    assert grade_math(extract_math_answer("so \\boxed{\\frac{1}{2}}"), ["0.5"])
    assert grade_math(extract_math_answer("thus \\[ \\sqrt{4} \\]"), ["2"])
    assert not grade_math(extract_math_answer("the answer is 2"), ["2"])
