"""Oracle runs through a real executor service: the "model" returns the known answers.

- HumanEval+ / MBPP+: canonical solutions pass, perturbed ones fail. Through the service a
  test case costs ~30-60 ms on these shared 2-core machines, so the ~165k plus tests take far
  longer than this suite's budget: the test runs a fixed subset (`CODE_SUBSET`: problems that
  exercise every comparison rule, float tolerance, tuples/complex inputs, huge ints and
  digests), each on its first `CASES` tests. `python bench/eval.py` runs all of them.
- CRUXEval: gold outputs (O) and inputs (I) of every 10th problem, plus every listed
  exception, score 100% through `/v1/azr/verify`; wrong answers score 0%.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from pathlib import Path

import pytest
from azr_trainer.evals.benchmarks import load_benchmark
from azr_trainer.evals.executor_runner import executor_runner
from azr_trainer.evals.scoring import ExpectedCache, Judge

pytestmark = pytest.mark.slow

CASES = 12
CODE_SUBSET = {
    "humanevalplus": [
        "HumanEval/0",
        "HumanEval/2",
        "HumanEval/32",
        "HumanEval/83",
        "HumanEval/100",
        "HumanEval/15",
    ],
    "mbppplus": ["Mbpp/2", "Mbpp/124", "Mbpp/558", "Mbpp/581", "Mbpp/737", "Mbpp/252"],
}
EXCEPTIONS = json.loads(Path(__file__).with_name("eval_cruxeval_exceptions.json").read_text())

PERTURB = """
_azr_orig = {entry}
def _azr_perturb(v):
    if isinstance(v, bool):
        return not v
    if isinstance(v, (int, float, complex)):
        return v + 1
    if isinstance(v, str):
        return v + "x"
    if isinstance(v, (list, tuple)):
        return type(v)(list(v) + [None])
    if isinstance(v, (set, dict)):
        return None
    return 0
def {entry}(*args, **kwargs):
    return _azr_perturb(_azr_orig(*args, **kwargs))
"""


@pytest.fixture
def executor_url(executor_server):
    """The suite's shared process-mode executor (tests/azr_executor_fixtures.py)."""
    return executor_server.url


def _answer(code):
    return f"Done. </think>\n<answer>\n```python\n{code}\n```\n</answer>"


def _code_problems():
    out = []
    for bench, ids in CODE_SUBSET.items():
        by_id = {p.id: p for p in load_benchmark(bench)}
        out += [dataclasses.replace(by_id[i], tests=by_id[i].tests[:CASES]) for i in ids]
    return out


def _score(url, pairs):
    async def go():
        async with executor_runner(url) as runner:
            judge = Judge(runner, max_concurrency=4)
            return await asyncio.gather(*(judge.score(p, c) for p, c in pairs))

    return asyncio.run(go())


def test_canonical_solutions_pass_and_perturbed_ones_fail(executor_url):
    problems = _code_problems()
    gold = [(p, _answer(p.gold[0])) for p in problems]
    bad = [(p, _answer(p.gold[0] + PERTURB.format(entry=p.entry_point))) for p in problems]
    verdicts = _score(executor_url, gold + bad)
    gold_v, bad_v = verdicts[: len(problems)], verdicts[len(problems) :]
    assert [(p.id, v.detail) for p, v in zip(problems, gold_v, strict=True) if not v.correct] == []
    assert all(
        v.detail == f"{len(p.tests)} cases passed" for p, v in zip(problems, gold_v, strict=True)
    )
    assert [p.id for p, v in zip(problems, bad_v, strict=True) if v.correct] == []


def _crux_completion(kind, answer):
    label = "output" if kind == "cruxeval_o" else "input"
    return f"Traced it. </think>\n<answer>\n```{label}\n{answer}\n```\n</answer>"


@pytest.mark.parametrize("kind", ["cruxeval_o", "cruxeval_i"])
def test_cruxeval_gold_answers_score_everything_but_listed_exceptions(executor_url, kind):
    listed = EXCEPTIONS[kind]
    problems = [p for i, p in enumerate(load_benchmark(kind)) if i % 10 == 0 or p.id in listed]
    verdicts = _score(executor_url, [(p, _crux_completion(kind, p.gold[0])) for p in problems])
    failed = {p.id for p, v in zip(problems, verdicts, strict=True) if not v.correct}
    assert failed == set(listed)


@pytest.mark.parametrize("kind", ["cruxeval_o", "cruxeval_i"])
def test_cruxeval_wrong_answers_score_nothing(executor_url, kind):
    problems = load_benchmark(kind)[::20]
    if kind == "cruxeval_o":
        wrong = [f"({p.gold[0]}, 'not it')" for p in problems]
    else:
        # An injection that would make a naive `assert f(...) == out` hold.
        wrong = ["1) or True or (1" for _ in problems]
    pairs = [(p, _crux_completion(kind, w)) for p, w in zip(problems, wrong, strict=True)]
    assert [
        p.id for p, v in zip(problems, _score(executor_url, pairs), strict=True) if v.correct
    ] == []


def test_a_program_the_executor_refuses_fails_its_problem_only(executor_url):
    """Over the executor's code cap, and a program whose checks have a 6,000-digit expected int
    (a decimal literal that long does not parse; the judge writes it in hex)."""
    problems = _code_problems()[:2]
    huge = dataclasses.replace(
        problems[1],
        gold=["def big(n):\n    return 10 ** n"],
        entry_point="big",
        tests=[(6000,), (5,)],
    )
    pairs = [
        (problems[0], _answer("x = 1\n" * 200_000)),  # 1.2 MB of code
        (huge, _answer(huge.gold[0])),
        (huge, _answer("def big(n):\n    return 10 ** n + 1")),
    ]
    refused, gold, wrong = _score(executor_url, pairs)
    assert not refused.correct and "rejected by the executor" in refused.detail
    assert gold.correct and gold.detail == "2 cases passed"
    assert not wrong.correct


def test_a_slow_canonical_case_is_skipped_once_and_the_rest_kept(executor_url):
    """Phase 1 keeps the cases finished before a timeout and runs only those after it: the
    slow case costs one time limit, not one per halving level."""
    base = _code_problems()[0]
    slow = dataclasses.replace(
        base,
        id="slow/1",
        gold=[
            "def f(x):\n    import time\n    if x == 3:\n        time.sleep(60)\n    return x * 2"
        ],
        entry_point="f",
        tests=[(i,) for i in range(8)],
    )

    async def go():
        async with executor_runner(executor_url) as runner:
            cache = ExpectedCache(runner, timeout_s=2.0)
            start = time.perf_counter()
            got = await cache.get(slow)
            return got, time.perf_counter() - start

    (expected, _canonical_s), elapsed_s = asyncio.run(go())
    assert expected == ["0", "2", "4", None, "8", "10", "12", "14"]
    assert elapsed_s < 2 * 2.0 + 1.5, elapsed_s  # one timeout (halving would hit it 4 times)
