"""Validation of proposals: static checks, then two harness jobs per program.

A proposal is valid only when every check below holds, in this order:
1. the program parses, defines a top-level entry function with at least one parameter, and
   passes the policy; every input is the argument list of exactly one call (`inputs.py`);
2. job A (one process): the program is loaded once and its calls run in order, twice over. Every
   call returns normally with a plain-literal output under the size limit; the second pass must
   repeat the first (else `state_dependent`: the program keeps state between calls);
3. job B (another process, on a zygote with a different hash seed): the calls run again, each in
   its own fork of the loaded program when there are several (one process when there is one), so
   no call sees another. Outputs must equal job A's by value (else `nondeterministic`).
Process creation is two jobs per program plus, for induction, one fork per input in job B.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from azr_proto.azr import (
    ExecutionOptions,
    Proposal,
    Reason,
    ValidationResult,
    ValidationStatus,
)

from azr_executor.azr.inputs import Problem, check_input, check_program
from azr_executor.azr.jobs import (
    CallResult,
    HarnessJob,
    HarnessReport,
    JobRunner,
    run_harness,
    same_value,
)
from azr_executor.azr.policy import DEFAULT_POLICY, PolicyChecker

__all__ = ["static_problem", "validate_proposals"]


async def validate_proposals(
    runner: JobRunner, proposals: list[Proposal], options: ExecutionOptions
) -> list[ValidationResult]:
    """Validate every proposal concurrently; one result per proposal, in order."""
    checker = PolicyChecker(options.policy or DEFAULT_POLICY)
    return list(await asyncio.gather(*(_validate(runner, p, options, checker) for p in proposals)))


def static_problem(
    proposal: Proposal, options: ExecutionOptions, checker: PolicyChecker
) -> ValidationResult | None:
    """The result of a proposal that fails before any run, else None."""
    info = check_program(proposal.program, options.entry, checker)
    if isinstance(info, Problem):
        return _invalid(info.reason, info.message)
    for index, source in enumerate(proposal.inputs):
        problem = check_input(source, options.entry, checker, info.names)
        if problem:
            return _invalid(problem.reason, f"input {index}: {problem.message}", index)
    return None


async def _validate(
    runner: JobRunner, proposal: Proposal, options: ExecutionOptions, checker: PolicyChecker
) -> ValidationResult:
    early = static_problem(proposal, options, checker)
    if early:
        return early
    base = HarnessJob(
        program=proposal.program,
        entry=options.entry,
        calls=list(proposal.inputs),
        timeout_s=options.timeout_s,
        memory_limit_mb=options.memory_limit_mb,
        max_output_chars=options.max_output_chars,
    )
    n = len(proposal.inputs)
    first = await run_harness(runner, replace(base, passes=2))
    outputs, failed = _outputs(first, n, passes=2)
    if failed:
        return failed
    for index in range(n):
        if not same_value(outputs[0][index], outputs[1][index]):
            return _invalid(
                Reason.STATE_DEPENDENT,
                f"input {index}: the second call in the same process returned "
                f"{_clip(outputs[1][index])} instead of {_clip(outputs[0][index])}",
                index,
            )
    second = await run_harness(
        runner,
        replace(base, mode="forked" if n > 1 else "sequential"),
        avoid_hash_seed=first.hash_seed,
    )
    again, failed = _outputs(second, n, passes=1)
    if failed:
        if failed.status is ValidationStatus.INVALID and failed.reason not in (
            Reason.TIMEOUT,
            Reason.MEMORY_LIMIT,
        ):
            failed.reason = Reason.NONDETERMINISTIC
            failed.message = f"passed in one process, failed in another: {failed.message}"
        return failed
    for index in range(n):
        if not same_value(outputs[0][index], again[0][index]):
            return _invalid(
                Reason.NONDETERMINISTIC,
                f"input {index}: {_clip(outputs[0][index])} in one process, "
                f"{_clip(again[0][index])} in another (different hash seed"
                + (", fresh process per call)" if n > 1 else ")"),
                index,
            )
    return ValidationResult(status=ValidationStatus.VALID, outputs=outputs[0], message="valid")


def _outputs(
    report: HarnessReport, n: int, *, passes: int
) -> tuple[list[list[str]], ValidationResult | None]:
    """The outputs of every pass, or the result that invalidates the proposal."""
    if report.failure:
        return [], _from_call(report.failure, None)
    if len(report.passes) != passes:
        for results in report.passes:
            for index, result in enumerate(results):
                if not result.ok:
                    return [], _from_call(result, index)
        return [], _invalid(Reason.MALFORMED_RESULT, "the job reported too few passes")
    outputs: list[list[str]] = []
    for results in report.passes:
        if len(results) != n:
            for index, result in enumerate(results):
                if not result.ok:
                    return [], _from_call(result, index)
            return [], _invalid(Reason.MALFORMED_RESULT, "the job reported too few calls")
        row: list[str] = []
        for index, result in enumerate(results):
            if result.output is None:
                return [], _from_call(result, index)
            row.append(result.output)
        outputs.append(row)
    return outputs, None


def _from_call(result: CallResult, index: int | None) -> ValidationResult:
    reason = result.reason or Reason.MALFORMED_RESULT
    prefix = f"input {index}: " if index is not None else ""
    if reason is Reason.SANDBOX_ERROR:
        return ValidationResult(
            status=ValidationStatus.SANDBOX_ERROR,
            reason=reason,
            message=f"sandbox error (retry): {result.message}",
        )
    return _invalid(reason, prefix + result.message, index)


def _invalid(reason: Reason, message: str, index: int | None = None) -> ValidationResult:
    return ValidationResult(
        status=ValidationStatus.INVALID, reason=reason, message=message, input_index=index
    )


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
