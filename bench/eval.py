"""Oracle run of HumanEval+ and MBPP+ through the executor, vs one process per test.

The "model" answers every problem with its canonical solution, so every plus test must pass.
Phase 1 computes expected outputs (canonical solution in the sandbox, one run per chunk of
inputs); phase 2 checks the candidate against them through `/v1/tests` (one request per problem,
one sandboxed child per case). The baseline runs the very same check programs with a fresh
`python3` per test case, as naive harnesses do; it runs on a random sample of cases and is
extrapolated to all of them (a full run would take about an hour on 2 cores).

    python bench/eval.py                      # both datasets, all ~165k plus tests
    python bench/eval.py --limit 20           # first 20 problems of each
    python bench/eval.py --problems Mbpp/255  # only these problems (comma-separated ids)
    python bench/eval.py --math               # also the full math oracle (gold and perturbed)
    python bench/eval.py --executor-url URL   # an executor already running
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from azr_trainer.evals.benchmarks import MATH_BENCHMARKS, load_benchmark
from azr_trainer.evals.evalplus import COMPARE_SOURCE, check_program
from azr_trainer.evals.executor_runner import executor_runner
from azr_trainer.evals.extraction import extract_math_answer
from azr_trainer.evals.math_grading import grade_math
from azr_trainer.evals.scoring import Judge
from azr_trainer.services import local_services


def oracle_completion(problem):
    return f"ok </think>\n<answer>\n```python\n{problem.gold[0]}\n```\n</answer>"


async def oracle(url, problems, concurrency):
    async with executor_runner(url) as runner:
        judge = Judge(runner, max_concurrency=concurrency)
        t0 = time.perf_counter()
        # Phase 1 alone first, so the two phases can be timed apart.
        cache = judge._expected
        await asyncio.gather(*(cache.get(p) for p in problems))
        t1 = time.perf_counter()
        verdicts = await asyncio.gather(*(judge.score(p, oracle_completion(p)) for p in problems))
        t2 = time.perf_counter()
        expected = {p.id: (await cache.get(p))[0] for p in problems}
    return verdicts, t1 - t0, t2 - t1, expected


def baseline(problems, expected, n_cases, seed=0):
    """One fresh python3 per test case on a random sample; returns (seconds, cases, passed)."""
    rng = random.Random(seed)
    pool = [(p, i) for p in problems for i in range(len(p.tests)) if expected[p.id][i] is not None]
    sample = rng.sample(pool, min(n_cases, len(pool)))
    passed = 0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        for p, i in sample:
            test = check_program(p.benchmark, p.entry_point, p.tests[i], expected[p.id][i], p.atol)
            src = f"{p.gold[0]}\n\n{COMPARE_SOURCE}\n{test}"
            path = Path(tmp) / "case.py"
            path.write_text(src)
            res = subprocess.run([sys.executable, str(path)], capture_output=True, timeout=60)
            passed += res.returncode == 0
        seconds = time.perf_counter() - t0
    return seconds, len(sample), passed


def math_oracle():
    for name in MATH_BENCHMARKS:
        problems = load_benchmark(name)
        t0 = time.perf_counter()
        gold = sum(
            grade_math(
                extract_math_answer(f"</think> <answer>\\boxed{{{p.gold[0]}}}</answer>"), p.gold
            )
            for p in problems
        )
        print(
            f"math oracle {name}: {gold}/{len(problems)} gold answers correct "
            f"({time.perf_counter() - t0:.1f} s)"
        )


@contextlib.contextmanager
def executor(url):
    if url:
        yield url
        return
    with tempfile.TemporaryDirectory() as tmp, local_services(Path(tmp)) as services:
        yield services.executor_url


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--problems", default=None, help="comma-separated problem ids (default: all)")
    ap.add_argument("--baseline-cases", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--executor-url", default=None)
    ap.add_argument("--math", action="store_true")
    args = ap.parse_args()
    problems = [
        p for b in ("humanevalplus", "mbppplus") for p in load_benchmark(b, limit=args.limit)
    ]
    if args.problems:
        wanted = set(args.problems.split(","))
        problems = [p for p in problems if p.id in wanted]
        if missing := wanted - {p.id for p in problems}:
            ap.error(f"unknown problem ids: {', '.join(sorted(missing))}")
    n_cases = sum(len(p.tests) for p in problems)
    print(
        f"{len(problems)} problems, {n_cases} test cases; {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    with executor(args.executor_url) as url:
        verdicts, phase1_s, phase2_s, expected = asyncio.run(
            oracle(url, problems, args.concurrency)
        )
    bad = [(p.id, v.detail) for p, v in zip(problems, verdicts, strict=True) if not v.correct]
    print(
        f"executor: expected outputs {phase1_s:.1f} s, checks {phase2_s:.1f} s, "
        f"total {phase1_s + phase2_s:.1f} s; {len(problems) - len(bad)}/{len(problems)} "
        f"canonical solutions pass all their tests"
    )
    for pid, detail in bad:
        print(f"  FAILED {pid}: {detail}")
    seconds, sampled, passed = baseline(problems, expected, args.baseline_cases)
    per_case = seconds / sampled
    print(
        f"one process per test: {sampled} sampled cases in {seconds:.1f} s ({passed} passed), "
        f"{per_case * 1000:.1f} ms/case -> {per_case * n_cases:.0f} s for all {n_cases}"
    )
    print(
        f"speed-up of the executor checks over one process per test: "
        f"{per_case * n_cases / phase2_s:.1f}x (checks only), "
        f"{per_case * n_cases / (phase1_s + phase2_s):.1f}x (with expected outputs)"
    )
    if args.math:
        math_oracle()


if __name__ == "__main__":
    main()
