"""Turns completions into verdicts: math with math-verify, code and CRUXEval in the executor.

No model output is ever run or `eval`-ed in this process. Code answers, CRUXEval inputs and
outputs run in the executor service behind a `TestRunner`; only math is graded locally (sympy).

EvalPlus problems are scored in two phases, as EvalPlus does: the canonical solution runs once
in the sandbox over every test input and its outputs (as Python source) become the expected
values (`ExpectedCache`); each candidate then runs against them through the test-case endpoint,
stopping at the first failing case.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from azr_proto.literals import LiteralError, parse_arguments, parse_literal

from azr_trainer.evals.benchmarks import Problem
from azr_trainer.evals.evalplus import (
    COMPARE_SOURCE,
    check_program,
    expected_from_line,
    expected_program,
    to_source,
)
from azr_trainer.evals.extraction import extract_code, extract_fenced, extract_math_answer
from azr_trainer.evals.math_grading import grade_math
from azr_trainer.parsing import is_format_error, parse_solver_answer

__all__ = [
    "CaseResult",
    "ExpectedCache",
    "Judge",
    "ProgramResult",
    "TestRunner",
    "Verdict",
    "cruxeval_test",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProgramResult:
    """One program run: whether it returned normally, its stdout, and its wall time."""

    ok: bool
    stdout: str
    wall_s: float
    detail: str = ""


@dataclass(frozen=True)
class CaseResult:
    """One test case: passed or not, and why not (status or assertion message)."""

    passed: bool
    detail: str = ""


class TestRunner(Protocol):
    """What scoring needs from the executor (see `azr_trainer.evals.executor_runner`)."""

    async def run_program(self, program: str, *, timeout_s: float) -> ProgramResult: ...

    async def run_assert_cases(
        self, program: str, tests: Sequence[str], *, timeout_s: float, entry_point: str = "f"
    ) -> list[CaseResult]: ...

    async def run_stdio_cases(
        self, program: str, cases: Sequence[tuple[str, str]], *, timeout_s: float
    ) -> list[CaseResult]: ...

    async def verify_cruxeval(self, problem: Problem, answer: str) -> CaseResult:
        """Grade a CRUXEval answer as an AZR deduction (O) or abduction (I) answer."""
        ...


@dataclass(frozen=True)
class Verdict:
    """The extracted answer, whether it is correct, and a short reason."""

    extracted: str | None
    correct: bool
    detail: str = ""


def cruxeval_test(problem: Problem, answer: str) -> str | None:
    """Assert-style test for a CRUXEval answer, or None when the answer is not data.

    Deduction compares the predicted output with the gold one by value; abduction checks
    `f(<input>) == <gold output>`. The answer must be data in the executor's literal grammar
    (`azr_proto.literals`: a value, or the argument list of one call), the same rule as
    `/v1/azr/verify`: `f(3)` as a predicted output, a lambda, or `1) or True or (1` would be code
    run inside the test, not an answer.
    """
    try:
        if problem.kind == "cruxeval_o":
            parse_literal(answer)
        else:
            parse_arguments(answer)
    except LiteralError:
        return None
    if "\n" in answer.strip():
        return None
    if problem.kind == "cruxeval_o":
        return f"assert ({problem.meta['output']}) == ({answer})"
    return f"assert f({answer}) == ({problem.meta['output']})"


class ExpectedCache:
    """Expected outputs (Python source per test, None where the canonical solution raised)."""

    def __init__(
        self,
        runner: TestRunner,
        *,
        chunk: int = 500,
        max_chars: int = 400_000,
        timeout_s: float = 60.0,
    ) -> None:
        self._runner = runner
        self._chunk = chunk
        self._max_chars = max_chars
        self._timeout_s = timeout_s
        self._done: dict[tuple[str, str], tuple[list[str | None], float]] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def get(self, problem: Problem) -> tuple[list[str | None], float]:
        """(expected sources, canonical wall time in s) for `problem`, computed once."""
        key = (problem.benchmark, problem.id)
        async with self._locks.setdefault(key, asyncio.Lock()):
            if key not in self._done:
                self._done[key] = await self._compute(problem)
            return self._done[key]

    def _chunks(self, problem: Problem) -> list[list[tuple[object, ...]]]:
        """Cases split so that one program stays well under the executor's 1 MiB code cap."""
        chunks: list[list[tuple[object, ...]]] = [[]]
        size = 0
        for args in problem.tests:
            n = len(to_source(list(args)))
            if chunks[-1] and (len(chunks[-1]) >= self._chunk or size + n > self._max_chars):
                chunks.append([])
                size = 0
            chunks[-1].append(args)
            size += n
        return chunks

    async def _compute(self, problem: Problem) -> tuple[list[str | None], float]:
        expected: list[str | None] = []
        wall_s = 0.0
        for part in self._chunks(problem):
            got, seconds = await self._run_part(problem, part)
            expected.extend(got)
            wall_s += seconds
        return expected, wall_s

    async def _run_part(
        self, problem: Problem, part: list[tuple[object, ...]]
    ) -> tuple[list[str | None], float]:
        """Expected outputs of `part`; a case the canonical solution cannot finish within the
        limits gets None (not scored).

        The program writes (and flushes) one line per case as it goes. When a run dies of a
        timeout or the memory limit, the case it was on is the culprit: the lines before it are
        kept and only the cases after it run again (halving would re-run that slow case at every
        level: 7 x 60 s for one case of Mbpp/255). Other failures are split in halves.
        """
        program = expected_program(
            problem.gold[0], problem.entry_point, part, dataset=problem.benchmark
        )
        result = await self._runner.run_program(program, timeout_s=self._timeout_s)
        lines = result.stdout.split("\n")[:-1]
        if result.ok and len(lines) == len(part):
            return [expected_from_line(line) for line in lines], result.wall_s
        if len(part) == 1:
            logger.warning(
                "canonical solution of %s failed on a case: %s", problem.id, result.detail
            )
            return [None], result.wall_s
        if result.detail.startswith(("timeout", "memory_limit")) and len(lines) < len(part):
            done = [expected_from_line(line) for line in lines]
            logger.warning(
                "canonical solution of %s failed on case %d of a run: %s",
                problem.id,
                len(done),
                result.detail,
            )
            rest = part[len(done) + 1 :]
            if not rest:
                return [*done, None], result.wall_s
            after, seconds = await self._run_part(problem, rest)
            return [*done, None, *after], result.wall_s + seconds
        half = len(part) // 2
        first, s1 = await self._run_part(problem, part[:half])
        second, s2 = await self._run_part(problem, part[half:])
        return first + second, s1 + s2


class Judge:
    """Scores completions of any benchmark; code goes to the executor through `runner`.

    `min_time_limit_s` and `time_factor` set a candidate's time limit per case to
    max(min, factor * the canonical solution's mean time per case), as EvalPlus's `--min-time-limit 10
    --gt-time-limit-factor 8` do (the defaults here are the reference's values).
    """

    def __init__(
        self,
        runner: TestRunner | None,
        *,
        min_time_limit_s: float = 10.0,
        time_factor: float = 8.0,
        max_concurrency: int = 8,
    ) -> None:
        self._runner = runner
        self._expected = ExpectedCache(runner) if runner is not None else None
        self._min_time_limit_s = min_time_limit_s
        self._time_factor = time_factor
        self._sem = asyncio.Semaphore(max_concurrency)

    def _need_runner(self) -> TestRunner:
        if self._runner is None:
            raise RuntimeError("code and CRUXEval benchmarks need the executor service")
        return self._runner

    async def score(self, problem: Problem, completion: str) -> Verdict:
        """The verdict for one completion of `problem`."""
        if problem.kind == "math":
            # sympy work: off the event loop so code checks keep flowing meanwhile.
            answer = extract_math_answer(completion)
            correct = await asyncio.to_thread(grade_math, answer, problem.gold)
            return Verdict(answer, correct, "" if answer is not None else "no answer found")
        async with self._sem:
            if problem.kind in ("cruxeval_o", "cruxeval_i"):
                return await self._score_cruxeval(problem, completion)
            return await self._score_code(problem, completion)

    async def _score_cruxeval(self, problem: Problem, completion: str) -> Verdict:
        task = "deduction" if problem.kind == "cruxeval_o" else "abduction"
        parsed = parse_solver_answer(completion, task)
        if is_format_error(parsed):
            # Not in the AZR format (e.g. the plain template): read the fenced block or answer.
            answer = extract_fenced(completion, "output" if task == "deduction" else "input")
        else:
            answer = str(parsed)
        if answer is None or (not answer and task == "deduction"):
            return Verdict(None, False, "no answer found")
        result = await self._need_runner().verify_cruxeval(problem, answer)
        return Verdict(answer, result.passed, result.detail)

    async def _score_code(self, problem: Problem, completion: str) -> Verdict:
        code = extract_code(completion)
        if code is None:
            return Verdict(None, False, "no code block found")
        runner = self._need_runner()
        if problem.meta.get("io") == "stdin":
            cases = [(str(i), str(o)) for i, o in problem.tests]
            results = await runner.run_stdio_cases(code, cases, timeout_s=60.0)
            return _all_passed(code, results, len(cases))
        assert self._expected is not None
        expected, canonical_s = await self._expected.get(problem)
        tests = [
            check_program(problem.benchmark, problem.entry_point, args, exp, problem.atol)
            for args, exp in zip(problem.tests, expected, strict=True)
            if exp is not None
        ]
        per_case_s = canonical_s / max(1, len(problem.tests))
        timeout_s = max(self._min_time_limit_s, self._time_factor * per_case_s)
        program = f"{code}\n\n{COMPARE_SOURCE}"
        results = await runner.run_assert_cases(
            program, tests, timeout_s=timeout_s, entry_point=problem.entry_point
        )
        return _all_passed(code, results, len(tests))


def _all_passed(code: str, results: list[CaseResult], n_cases: int) -> Verdict:
    failed = next((i for i, r in enumerate(results) if not r.passed), None)
    if failed is not None:
        return Verdict(code, False, f"case {failed} failed: {results[failed].detail}")
    if len(results) < n_cases:
        return Verdict(code, False, f"only {len(results)} of {n_cases} cases ran")
    return Verdict(code, True, f"{n_cases} cases passed")
