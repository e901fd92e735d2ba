"""Verification of solver answers against validated tasks.

- deduction: the answer is an output literal; it is compared with the gold output by value with
  `ast.literal_eval` in this process (no run: both sides are plain literals, so `==` runs no
  model code). `1 == 1.0` holds, `(1, 2) == [1, 2]` does not, as in Python.
- abduction: the answer is an argument list, checked like a proposal's input; all answers of one
  task run in one harness job on the task's program (validation proved its calls independent of
  each other). If that job fails as a whole (timeout, crash), each answer is re-run alone, so
  one looping answer cannot sink the others. The output is compared with the gold by value.
- induction: the answer is a program, checked like a proposal; each distinct program runs on
  the hidden inputs in its own job and never sees the expected outputs, which are compared here.
Identical answers to one task are graded once.
"""

from __future__ import annotations

import ast
import asyncio
from collections.abc import Sequence

from azr_proto.azr import (
    AnswerVerdict,
    ExecutionOptions,
    Reason,
    Task,
    TaskType,
    Verdict,
    VerifyItem,
    VerifyOptions,
)

from azr_executor.azr.inputs import Problem, check_input, check_program
from azr_executor.azr.jobs import CallResult, HarnessJob, JobRunner, run_harness, same_value
from azr_executor.azr.policy import DEFAULT_POLICY, PolicyChecker

__all__ = ["BadTask", "verify_items"]


class BadTask(ValueError):
    """The task itself is unusable (its program breaks the rules): a 422, not a verdict."""


async def verify_items(
    runner: JobRunner, items: Sequence[VerifyItem], options: VerifyOptions
) -> list[list[AnswerVerdict]]:
    """Grade every answer of every item; raises `BadTask` before any run if a task is unusable."""
    checker = PolicyChecker(options.policy or DEFAULT_POLICY)
    for index, item in enumerate(items):
        _check_task(item.task, options, checker, index)
    return list(
        await asyncio.gather(*(_verify_item(runner, item, options, checker) for item in items))
    )


def _check_task(task: Task, options: ExecutionOptions, checker: PolicyChecker, index: int) -> None:
    for output in task.outputs:
        try:
            ast.literal_eval(output)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
            raise BadTask(f"item {index}: gold output is not a Python literal ({exc})") from None
    if task.task_type is TaskType.ABDUCTION:
        info = check_program(task.program, options.entry, checker)
        if isinstance(info, Problem):
            raise BadTask(f"item {index}: the task's program is unusable: {info.message}")


async def _verify_item(
    runner: JobRunner, item: VerifyItem, options: VerifyOptions, checker: PolicyChecker
) -> list[AnswerVerdict]:
    task = item.task
    unique = list(dict.fromkeys(item.answers))
    if task.task_type is TaskType.DEDUCTION:
        graded = [_grade_deduction(task.outputs[0], answer) for answer in unique]
    elif task.task_type is TaskType.ABDUCTION:
        graded = await _grade_abduction(runner, task, unique, options, checker)
    else:
        graded = list(
            await asyncio.gather(
                *(_grade_induction(runner, task, a, options, checker) for a in unique)
            )
        )
    by_answer = dict(zip(unique, graded, strict=True))
    return [by_answer[answer] for answer in item.answers]


def _grade_deduction(gold: str, answer: str) -> AnswerVerdict:
    try:
        ast.literal_eval(answer.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return _verdict(Verdict.INVALID, Reason.NOT_A_LITERAL, "the answer is not a literal")
    if same_value(gold, answer.strip()):
        return _verdict(Verdict.CORRECT)
    return _verdict(Verdict.INCORRECT, Reason.WRONG_OUTPUT, "the value differs from the output")


async def _grade_abduction(
    runner: JobRunner,
    task: Task,
    answers: list[str],
    options: ExecutionOptions,
    checker: PolicyChecker,
) -> list[AnswerVerdict]:
    info = check_program(task.program, options.entry, checker)
    assert not isinstance(info, Problem)  # checked by _check_task
    verdicts: dict[int, AnswerVerdict] = {}
    runnable: list[int] = []
    for index, answer in enumerate(answers):
        problem = check_input(answer.strip(), options.entry, checker, info.names)
        if problem:
            verdicts[index] = _verdict(Verdict.INVALID, problem.reason, problem.message)
        else:
            runnable.append(index)
    results = await _run_calls(
        runner, task.program, [answers[i].strip() for i in runnable], options
    )
    for index, result in zip(runnable, results, strict=True):
        verdicts[index] = _judge(result, task.outputs[0])
    return [verdicts[i] for i in range(len(answers))]


async def _run_calls(
    runner: JobRunner, program: str, calls: list[str], options: ExecutionOptions
) -> list[CallResult]:
    """One result per call: one job for all, or one job each if the shared job failed."""
    if not calls:
        return []
    report = await run_harness(runner, _job(program, calls, options))
    if report.failure is None and report.passes and len(report.passes[0]) == len(calls):
        return report.passes[0]
    if len(calls) == 1:
        return [report.failure or CallResult(reason=Reason.MALFORMED_RESULT, message="no result")]
    alone = await asyncio.gather(*(_run_calls(runner, program, [c], options) for c in calls))
    return [results[0] for results in alone]


async def _grade_induction(
    runner: JobRunner,
    task: Task,
    answer: str,
    options: VerifyOptions,
    checker: PolicyChecker,
) -> AnswerVerdict:
    info = check_program(answer, options.entry, checker)
    if isinstance(info, Problem):
        return _verdict(Verdict.INVALID, info.reason, info.message)
    hidden = task.hidden_indices
    report = await run_harness(runner, _job(answer, [task.inputs[i] for i in hidden], options))
    if report.failure and report.failure.reason is Reason.SANDBOX_ERROR:
        return _verdict(Verdict.SANDBOX_ERROR, Reason.SANDBOX_ERROR, report.failure.message)
    results = report.passes[0] if report.passes and not report.failure else []
    passed, first_failure = 0, None
    for position, index in enumerate(hidden):
        if position < len(results):
            verdict = _judge(results[position], task.outputs[index])
        else:
            failure = report.failure or CallResult(reason=Reason.MALFORMED_RESULT)
            verdict = _verdict(Verdict.INCORRECT, failure.reason, failure.message)
        if verdict.verdict is Verdict.CORRECT:
            passed += 1
        elif first_failure is None:
            first_failure = verdict
    fraction = passed / len(hidden)
    if first_failure is None:
        return _verdict(Verdict.CORRECT)
    score = fraction if options.induction_rule == "fraction" else 0.0
    message = f"{passed}/{len(hidden)} hidden pairs pass; first failure: {first_failure.message}"
    return _verdict(Verdict.INCORRECT, first_failure.reason, message, score)


def _judge(result: CallResult, gold: str) -> AnswerVerdict:
    if result.reason is Reason.SANDBOX_ERROR:
        return _verdict(Verdict.SANDBOX_ERROR, Reason.SANDBOX_ERROR, result.message)
    if result.output is None:
        return _verdict(Verdict.INCORRECT, result.reason, result.message)
    if same_value(gold, result.output):
        return _verdict(Verdict.CORRECT)
    return _verdict(Verdict.INCORRECT, Reason.WRONG_OUTPUT, "the value differs from the output")


def _job(program: str, calls: list[str], options: ExecutionOptions) -> HarnessJob:
    return HarnessJob(
        program=program,
        entry=options.entry,
        calls=calls,
        timeout_s=options.timeout_s,
        memory_limit_mb=options.memory_limit_mb,
        max_output_chars=options.max_output_chars,
        stop_on_error=False,
    )


def _verdict(
    verdict: Verdict, reason: Reason | None = None, message: str = "", score: float | None = None
) -> AnswerVerdict:
    if score is None:
        score = 1.0 if verdict is Verdict.CORRECT else 0.0
    return AnswerVerdict(verdict=verdict, score=score, reason=reason, message=message)
