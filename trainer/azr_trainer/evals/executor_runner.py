"""The `TestRunner` of scoring, backed by the executor service (`/v1/run` and `/v1/tests`).

A `sandbox_error` that survives the client's retries raises `ExecutorUnavailable`: an outage
of the executor is never turned into a wrong answer.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from azr_proto.azr import Policy, Task, TaskType, VerifyItem, VerifyOptions, VerifyRequest
from azr_proto.azr import Verdict as AzrVerdict
from azr_proto.errors import BadRequest
from azr_proto.executor import (
    AssertCase,
    CaseResult,
    RunLimits,
    RunRequest,
    StdioCase,
    TestCase,
    TestsRequest,
)
from azr_proto.executor_client import ExecutorClient
from azr_proto.statuses import RunStatus
from pydantic import ValidationError

from azr_trainer.evals import scoring
from azr_trainer.evals.benchmarks import Problem

__all__ = ["ExecutorTestRunner", "ExecutorUnavailable", "executor_runner"]

# The executor's defaults cap a /v1/tests request at 1,024 cases and a run's wall time at 60 s.
MAX_CASES_PER_REQUEST = 1000
MAX_WALL_S = 60.0
OUTPUT_LIMIT_BYTES = 8 << 20


class ExecutorUnavailable(RuntimeError):
    """The executor kept failing (sandbox_error) on a run: a fault of the service, not the code."""


def _case(result: CaseResult) -> scoring.CaseResult:
    if result.status is RunStatus.SANDBOX_ERROR:
        raise ExecutorUnavailable(f"executor sandbox_error on case {result.index}: {result.detail}")
    detail = result.verdict if not result.detail else f"{result.verdict}: {result.detail}"
    return scoring.CaseResult(result.verdict == "passed", detail[:300])


class ExecutorTestRunner:
    """Runs programs and test cases in the executor through an `ExecutorClient`."""

    def __init__(self, client: ExecutorClient, *, memory_limit_mb: int = 4096) -> None:
        self.client = client
        # EvalPlus allows 4 GiB of address space; the executor's default (512 MiB) is too tight
        # for a few canonical solutions.
        self.memory_limit_mb = memory_limit_mb
        # None: the service's default AZR policy, the same rules self-play answers meet.
        self.cruxeval_policy: Policy | None = None

    async def run_program(self, program: str, *, timeout_s: float) -> scoring.ProgramResult:
        wall_s = min(timeout_s, MAX_WALL_S)
        limits = RunLimits(
            wall_timeout_s=wall_s,
            cpu_timeout_s=math.ceil(wall_s),
            memory_limit_mb=self.memory_limit_mb,
            output_limit_bytes=OUTPUT_LIMIT_BYTES,
        )
        res = await self.client.run(RunRequest(code=program, limits=limits))
        if res.status is RunStatus.SANDBOX_ERROR:
            raise ExecutorUnavailable(f"executor sandbox_error: {res.stderr[-300:]}")
        ok = res.status is RunStatus.OK and not res.truncated
        detail = f"{res.status}: {res.exception.type if res.exception else res.stderr[-300:]}"
        return scoring.ProgramResult(ok, res.stdout, res.wall_ms / 1000.0, detail)

    async def _cases(
        self, program: str, cases: Sequence[TestCase], entry_point: str, timeout_s: float
    ) -> list[scoring.CaseResult]:
        out: list[scoring.CaseResult] = []
        wall_s = min(timeout_s, MAX_WALL_S)
        limits = RunLimits(
            wall_timeout_s=wall_s,
            cpu_timeout_s=math.ceil(wall_s),
            memory_limit_mb=self.memory_limit_mb,
        )
        for start in range(0, len(cases), MAX_CASES_PER_REQUEST):
            try:
                req = TestsRequest(
                    code=program,
                    entry_point=entry_point,
                    cases=list(cases[start : start + MAX_CASES_PER_REQUEST]),
                    early_stop=True,
                    limits=limits,
                )
                resp = await self.client.tests(req)
            except (BadRequest, ValidationError) as exc:
                # A model's program the executor refuses (too large, bad entry point...) fails
                # this problem; it must not end a whole evaluation run.
                out.append(scoring.CaseResult(False, f"rejected by the executor: {exc}"[:300]))
                break
            part = [_case(r) for r in resp.results if r.verdict != "not_run"]
            out.extend(part)
            if not resp.all_passed:
                break
        return out

    async def run_assert_cases(
        self, program: str, tests: Sequence[str], *, timeout_s: float, entry_point: str = "f"
    ) -> list[scoring.CaseResult]:
        cases: list[TestCase] = [AssertCase(test=t) for t in tests]
        return await self._cases(program, cases, entry_point, timeout_s)

    async def run_stdio_cases(
        self, program: str, cases: Sequence[tuple[str, str]], *, timeout_s: float
    ) -> list[scoring.CaseResult]:
        stdio: list[TestCase] = [StdioCase(stdin=i, expected_stdout=o) for i, o in cases]
        return await self._cases(program, stdio, "f", timeout_s)

    async def verify_cruxeval(self, problem: Problem, answer: str) -> scoring.CaseResult:
        """CRUXEval-O as an AZR deduction answer, CRUXEval-I as an abduction answer, graded by
        `/v1/azr/verify` (values compared inside the sandbox, inputs parsed as one call).
        """
        task_type = TaskType.DEDUCTION if problem.kind == "cruxeval_o" else TaskType.ABDUCTION
        task = Task(
            task_type=task_type,
            program=problem.meta["code"],
            inputs=[problem.meta["input"]],
            outputs=[problem.meta["output"]],
        )
        req = VerifyRequest(
            items=[VerifyItem(task=task, answers=[answer])],
            options=VerifyOptions(policy=self.cruxeval_policy),
        )
        try:
            verdict = (await self.client.azr_verify(req)).results[0].verdicts[0]
        except BadRequest as exc:
            if exc.code != "bad_task":
                raise
            # Not a valid AZR task (CRUXEval sample_135's `f` takes no argument): check the
            # answer with one guarded assertion through /v1/tests instead.
            return await self._cruxeval_by_assert(problem, answer)
        if verdict.verdict is AzrVerdict.SANDBOX_ERROR:
            raise ExecutorUnavailable(f"executor sandbox_error: {verdict.message[:300]}")
        detail = verdict.verdict.value
        if verdict.reason is not None:
            detail += f" ({verdict.reason}: {verdict.message[:200]})"
        return scoring.CaseResult(verdict.verdict is AzrVerdict.CORRECT, detail)

    async def _cruxeval_by_assert(self, problem: Problem, answer: str) -> scoring.CaseResult:
        test = scoring.cruxeval_test(problem, answer)
        if test is None:
            return scoring.CaseResult(False, "invalid: the answer is not a single expression")
        results = await self.run_assert_cases(problem.meta["code"], [test], timeout_s=10.0)
        return results[0] if results else scoring.CaseResult(False, "not run")


@asynccontextmanager
async def executor_runner(
    base_url: str, *, timeout_s: float = 600.0
) -> AsyncIterator[ExecutorTestRunner]:
    """An `ExecutorTestRunner` on a client for `base_url`, closed on exit."""
    async with ExecutorClient(base_url, timeout_s=timeout_s) as client:
        yield ExecutorTestRunner(client)
