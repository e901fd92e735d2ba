"""Verification of solver answers against validated tasks.

- deduction: the answer is an output literal; it is compared with the gold output by value with
  `ast.literal_eval` in this process (no run: both sides are plain literals, so `==` runs no
  model code). `1 == 1.0` holds, `(1, 2) == [1, 2]` does not, as in Python.
- abduction: the answer is an argument list, checked like a proposal's input; all answers of one
  task run in one process on the task's program (validation proved its calls independent of
  each other). If that process fails as a whole (timeout, crash), each answer is re-run alone,
  so one looping answer cannot sink the others. The output is compared with the gold by value.
- induction: the answer is a program, checked like a proposal; each distinct program runs on
  the hidden inputs in its own process and never sees the expected outputs, compared here.
Processes are forks inside a few sandbox jobs (`jobs.py`).
Answers to one task with the same syntax tree (differing only in comments or spacing) are graded
once.
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
from azr_executor.azr.jobs import (
    CallResult,
    JobRunner,
    Unit,
    UnitReport,
    chunked,
    run_units,
    same_value,
)
from azr_executor.azr.policy import DEFAULT_POLICY, PolicyChecker

__all__ = ["BadTask", "answer_key", "run_chunked", "verify_items"]


class BadTask(ValueError):
    """The task itself is unusable (its program breaks the rules): a 422, not a verdict."""


async def verify_items(
    runner: JobRunner, items: Sequence[VerifyItem], options: VerifyOptions
) -> list[list[AnswerVerdict]]:
    """Grade every answer of every item; raises `BadTask` before any run if a task is unusable."""
    checker = PolicyChecker(options.policy or DEFAULT_POLICY)
    for index, item in enumerate(items):
        _check_task(item.task, options, checker, index)
    # One representative per distinct answer: same syntax tree, same behaviour.
    keys = [[answer_key(item.task.task_type, a) for a in item.answers] for item in items]
    representatives: list[dict[str, str]] = []
    for item, item_keys in zip(items, keys, strict=True):
        firsts: dict[str, str] = {}
        for key, answer in zip(item_keys, item.answers, strict=True):
            firsts.setdefault(key, answer)
        representatives.append(firsts)
    uniques = [list(firsts.values()) for firsts in representatives]
    graded: list[dict[str, AnswerVerdict]] = [{} for _ in items]
    abductions: list[tuple[int, list[str]]] = []  # (item, runnable answers)
    inductions: list[tuple[int, str]] = []  # (item, answer program)
    for i, (item, answers) in enumerate(zip(items, uniques, strict=True)):
        task = item.task
        for answer in answers:
            verdict = _static_verdict(task, answer, options, checker)
            if verdict is not None:
                graded[i][answer] = verdict
            elif task.task_type is TaskType.ABDUCTION:
                if not abductions or abductions[-1][0] != i:
                    abductions.append((i, []))
                abductions[-1][1].append(answer)
            else:
                inductions.append((i, answer))
    units = [Unit(items[i].task.program, [a.strip() for a in answers], stop_on_error=False)
             for i, answers in abductions]  # fmt: skip
    units += [
        Unit(
            answer,
            [items[i].task.inputs[k] for k in items[i].task.hidden_indices],
            stop_on_error=False,
        )
        for i, answer in inductions
    ]
    reports = await run_chunked(runner, units, options)
    retry: list[tuple[int, str]] = []  # abduction answers whose shared unit failed as a whole
    for (i, answers), report in zip(abductions, reports, strict=False):
        gold = items[i].task.outputs[0]
        if _failed_whole(report) and len(answers) > 1:
            retry += [(i, a) for a in answers]
            continue
        for k, answer in enumerate(answers):
            graded[i][answer] = _judge(_call(report, 0, k), gold)
    for (i, answer), report in zip(inductions, reports[len(abductions) :], strict=True):
        graded[i][answer] = _judge_induction(items[i].task, report, options)
    alone = await run_chunked(
        runner, [Unit(items[i].task.program, [a.strip()]) for i, a in retry], options
    )
    for (i, answer), report in zip(retry, alone, strict=True):
        graded[i][answer] = _judge(_call(report, 0, 0), items[i].task.outputs[0])
    return [[graded[i][representatives[i][key]] for key in keys[i]] for i in range(len(items))]


def answer_key(task_type: TaskType, answer: str) -> str:
    """Answers with the same key get the same verdict: the dump of their syntax tree (comments,
    blank lines and spacing do not change what runs), or the stripped text if it does not parse.
    """
    try:
        if task_type == TaskType.INDUCTION:
            return ast.dump(ast.parse(answer))
        if task_type == TaskType.ABDUCTION:
            return ast.dump(ast.parse(f"f({answer.strip()})", mode="eval"))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        pass
    return answer.strip()


async def run_chunked(
    runner: JobRunner, units: list[Unit], options: ExecutionOptions
) -> list[UnitReport]:
    """Run units in a few concurrent jobs; one report per unit, in order."""
    chunks = chunked(units, runner.parallelism)
    done = await asyncio.gather(*(run_units(runner, chunk, options) for chunk in chunks))
    return [report for reports in done for report in reports]


def _static_verdict(
    task: Task, answer: str, options: ExecutionOptions, checker: PolicyChecker
) -> AnswerVerdict | None:
    """The verdict of an answer decided without a run (deduction, or a rejected answer)."""
    if task.task_type is TaskType.DEDUCTION:
        return _grade_deduction(task.outputs[0], answer)
    if task.task_type is TaskType.ABDUCTION:
        info = check_program(task.program, options.entry, checker)
        assert not isinstance(info, Problem)  # checked by _check_task
        problem = check_input(answer.strip(), options.entry, checker, info.names)
    else:
        checked = check_program(answer, options.entry, checker)
        problem = checked if isinstance(checked, Problem) else None
    return _verdict(Verdict.INVALID, problem.reason, problem.message) if problem else None


def _failed_whole(report: UnitReport) -> bool:
    return report.failure is not None and report.failure.reason is not Reason.SANDBOX_ERROR


def _call(report: UnitReport, pass_index: int, call: int) -> CallResult:
    """One call's result, or the unit's failure when the unit did not get that far."""
    if report.failure is None and len(report.passes) > pass_index:
        results = report.passes[pass_index]
        if call < len(results):
            return results[call]
    return report.failure or CallResult(reason=Reason.MALFORMED_RESULT, message="no result")


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


def _grade_deduction(gold: str, answer: str) -> AnswerVerdict:
    try:
        ast.literal_eval(answer.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return _verdict(Verdict.INVALID, Reason.NOT_A_LITERAL, "the answer is not a literal")
    if same_value(gold, answer.strip()):
        return _verdict(Verdict.CORRECT)
    return _verdict(Verdict.INCORRECT, Reason.WRONG_OUTPUT, "the value differs from the output")


def _judge_induction(task: Task, report: UnitReport, options: VerifyOptions) -> AnswerVerdict:
    hidden = task.hidden_indices
    if report.failure and report.failure.reason is Reason.SANDBOX_ERROR:
        return _verdict(Verdict.SANDBOX_ERROR, Reason.SANDBOX_ERROR, report.failure.message)
    passed, first_failure = 0, None
    for position, index in enumerate(hidden):
        verdict = _judge(_call(report, 0, position), task.outputs[index])
        if verdict.verdict is Verdict.CORRECT:
            passed += 1
        elif first_failure is None:
            first_failure = verdict
    if first_failure is None:
        return _verdict(Verdict.CORRECT)
    score = passed / len(hidden) if options.induction_rule == "fraction" else 0.0
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


def _verdict(
    verdict: Verdict, reason: Reason | None = None, message: str = "", score: float | None = None
) -> AnswerVerdict:
    if score is None:
        score = 1.0 if verdict is Verdict.CORRECT else 0.0
    return AnswerVerdict(verdict=verdict, score=score, reason=reason, message=message)
