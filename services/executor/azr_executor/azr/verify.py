"""Verification of solver answers against validated tasks.

- deduction: the answer is an output literal; it is compared with the gold output by value,
  both read with the literal grammar (`azr_proto.literals`) in this process (no run: both sides are plain literals, so `==` runs no
  model code). `1 == 1.0` holds, `(1, 2) == [1, 2]` does not, as in Python.
- abduction: the answer is an argument list read as data, like a proposal's input (a lambda or
  a call is `invalid`, never run); the task's program is loaded once per task and every answer
  runs in its own fork of it, so no answer's call can change the program another answer sees.
  If that process fails as a whole (timeout, crash), each answer is re-run alone, so one
  looping answer cannot sink the others. The output is compared with the gold by value.
- induction: the answer is a program, checked like a proposal; each distinct program runs on
  the hidden inputs in its own process and never sees the expected outputs, compared here.
Processes are forks inside a few sandbox jobs (`jobs.py`).
Answers to one task with the same syntax tree (differing only in comments or spacing) are graded
once.
"""

from __future__ import annotations

import ast
import asyncio
import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

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
from azr_proto.literals import LiteralError, parse_literal, parse_tree, same_value

from azr_executor.azr.inputs import (
    Problem,
    check_program,
    check_program_tree,
    literal_value,
    read_input,
)
from azr_executor.azr.jobs import (
    MAX_UNITS_PER_JOB,
    CallResult,
    JobRunner,
    Unit,
    UnitReport,
    chunked,
    run_units,
)
from azr_executor.azr.policy import DEFAULT_POLICY, PolicyChecker
from azr_executor.errors import BadTask

__all__ = ["BadTask", "answer_key", "run_chunked", "verify_items"]


async def verify_items(
    runner: JobRunner, items: Sequence[VerifyItem], options: VerifyOptions
) -> list[list[AnswerVerdict]]:
    """Grade every answer of every item; raises `BadTask` before any run if a task is unusable."""
    checker = PolicyChecker(options.policy or DEFAULT_POLICY)
    # Reading tasks, answers and outputs (the grammar, the policy) costs CPU in proportion to
    # the text: in worker threads, so the event loop serves other requests meanwhile.
    facts = await asyncio.to_thread(
        lambda: [_check_task(item.task, options, checker, i) for i, item in enumerate(items)]
    )
    keys: list[list[Hashable]] = [[None] * len(item.answers) for item in items]
    graded: list[dict[Hashable, AnswerVerdict]] = [{} for _ in items]
    owners: list[dict[Hashable, int]] = [{} for _ in items]  # key -> the answer that runs it
    retry: list[tuple[int, Hashable, str]] = []  # abduction answers whose shared unit failed

    async def grade(group: list[tuple[int, int | None]]) -> None:
        # Screened group by group: the first group's job starts while the others are screened.
        abductions: list[tuple[int, list[tuple[Hashable, str]]]] = []  # (item, runnable answers)
        inductions: list[tuple[int, Hashable, str]] = []  # (item, key, answer program)

        def screen() -> None:
            for i, k in group:
                which = range(len(items[i].answers)) if k is None else (k,)
                queued = _screen(items[i], which, facts[i], options, checker, keys[i],
                                 graded[i], owners[i])  # fmt: skip
                if items[i].task.task_type is TaskType.ABDUCTION and queued:
                    abductions.append((i, queued))
                else:
                    inductions.extend((i, key, answer) for key, answer in queued)

        await asyncio.to_thread(screen)
        # Abduction: one fork of the loaded program per answer (`forked`); the answers' keys are
        # their encoded calls (`_parse_answer`).
        units = [Unit(items[i].task.program, [key for key, _ in answers],  # type: ignore[misc]
                      mode="forked", stop_on_error=False)
                 for i, answers in abductions]  # fmt: skip
        units += [
            Unit(answer, facts[i].hidden_calls, stop_on_error=False) for i, _, answer in inductions
        ]
        if len(units) > MAX_UNITS_PER_JOB:
            reports = await run_chunked(runner, units, options)
        else:
            reports = await run_units(runner, units, options)

        def judge() -> None:
            for (i, answers), report in zip(abductions, reports, strict=False):
                if _failed_whole(report) and len(answers) > 1:
                    retry.extend((i, key, a) for key, a in answers)
                    continue
                for k, (key, _) in enumerate(answers):
                    graded[i][key] = _judge(_call(report, 0, k), facts[i].golds[0], items[i].task)
            for (i, key, _), report in zip(inductions, reports[len(abductions) :], strict=True):
                graded[i][key] = _judge_induction(items[i].task, facts[i].golds, report, options)

        await asyncio.to_thread(judge)

    await asyncio.gather(*(grade(group) for group in _groups(items, runner.parallelism)))
    alone = await run_chunked(
        runner,
        [Unit(items[i].task.program, [key]) for i, key, _ in retry],  # type: ignore[list-item]
        options,
    )
    for (i, key, _), report in zip(retry, alone, strict=True):
        graded[i][key] = _judge(_call(report, 0, 0), facts[i].golds[0], items[i].task)
    return [[graded[i][key] for key in keys[i]] for i in range(len(items))]


def _groups(items: Sequence[VerifyItem], parallelism: int) -> list[list[tuple[int, int | None]]]:
    """The work dealt round-robin into groups of about `MAX_UNITS_PER_JOB` runnable units
    (counted before de-duplication), and at least `2 * parallelism` groups, as `chunked` cuts
    units. A piece of work is `(item, None)`: every answer of an item (one unit for an
    abduction task, whose program is loaded once for all its answers; none for deduction); or
    `(item, k)`: answer `k` of an induction task (its own unit). So the answers of one costly
    induction task are spread over several jobs, not all in one job that alone sets the
    phase's wall time."""
    work: list[tuple[int, int | None]] = []
    for i, item in enumerate(items):
        if item.task.task_type is TaskType.INDUCTION:
            work += [(i, k) for k in range(len(item.answers))]
        else:
            work.append((i, None))
    units = sum(1 for i, _ in work if items[i].task.task_type is not TaskType.DEDUCTION)
    n_groups = max(2 * parallelism, math.ceil(units / MAX_UNITS_PER_JOB))
    return chunked(work, parallelism, n_chunks=n_groups)


def _screen(
    item: VerifyItem,
    answers: Sequence[int],
    facts: _TaskFacts,
    options: ExecutionOptions,
    checker: PolicyChecker,
    keys: list[Hashable],
    graded: dict[Hashable, AnswerVerdict],
    owners: dict[Hashable, int],
) -> list[tuple[Hashable, str]]:
    """Key the item's `answers` (indices; into `keys`) and grade those that need no run (into
    `graded`); the (key, answer) pairs left to run. One representative per distinct answer
    (same syntax tree, same behaviour), each answer parsed once for its key and its checks:
    the first answer to claim its key in `owners`, over all the item's groups (screened in
    worker threads at once: `setdefault` claims in one step)."""
    queued: list[tuple[Hashable, str]] = []
    for index in answers:
        answer = item.answers[index]
        key, tree = _parse_answer(item.task.task_type, answer)
        keys[index] = key
        if owners.setdefault(key, index) != index:
            continue
        verdict = _static_verdict(item.task, facts, answer, tree, options, checker)
        if verdict is not None:
            graded[key] = verdict
        else:
            queued.append((key, answer))
    return queued


def answer_key(task_type: TaskType, answer: str) -> Hashable:
    """Answers with the same key get the same verdict: for a program, its syntax tree (comments,
    blank lines and spacing do not change what runs); for an abduction answer, its encoded
    values (`'a', 1` and `"a",  1` are one call); else the stripped text."""
    return _parse_answer(task_type, answer)[0]


def _parse_answer(task_type: TaskType, answer: str) -> tuple[Hashable, ast.AST | None]:
    """The answer's key and, for programs that parse, its syntax tree."""
    if task_type == TaskType.ABDUCTION:
        call = read_input(answer.strip())
        return (call if isinstance(call, bytes) else answer.strip()), None
    if task_type == TaskType.INDUCTION and "\x00" not in answer:  # check_program's NUL rule
        try:
            module = parse_tree(answer)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            pass
        else:
            return _tree_key(module), module
    return answer.strip(), None


def _tree_key(tree: ast.AST) -> tuple[object, ...]:
    """A flat, hashable serialization of a syntax tree without positions: node types, field
    counts and list lengths (so it is prefix-free), and each constant as (type, value) so that
    `1`, `1.0` and `True` stay apart. Equal keys mean equal trees. (About twice as fast as
    `ast.dump`.)"""
    out: list[object] = []
    add = out.append
    stack: list[object] = [tree]
    pop, push = stack.pop, stack.append
    while stack:
        node = pop()
        if isinstance(node, ast.AST):
            fields = node._fields
            add(type(node))
            add(len(fields))
            for name in reversed(fields):
                push(getattr(node, name, None))
        elif type(node) is list:
            add(list)
            add(len(node))
            stack.extend(reversed(node))
        else:
            add(type(node))
            add(node)
    return tuple(out)


async def run_chunked(
    runner: JobRunner, units: list[Unit], options: ExecutionOptions
) -> list[UnitReport]:
    """Run units in a few concurrent jobs; one report per unit, in order."""
    chunks = chunked(units, runner.parallelism)
    positions = chunked(range(len(units)), runner.parallelism)  # where each chunk's units sit
    done = await asyncio.gather(*(run_units(runner, chunk, options) for chunk in chunks))
    ordered: list[UnitReport | None] = [None] * len(units)
    for where, reports in zip(positions, done, strict=True):
        for position, report in zip(where, reports, strict=True):
            ordered[position] = report
    return [report for report in ordered if report is not None]


@dataclass(frozen=True)
class _TaskFacts:
    """What grading needs from a task, computed once per item: its gold values (the outputs,
    read as literals) and, for induction, its hidden inputs read as calls."""

    golds: list[object]
    hidden_calls: list[bytes]


def _static_verdict(
    task: Task,
    facts: _TaskFacts,
    answer: str,
    tree: ast.AST | None,
    options: ExecutionOptions,
    checker: PolicyChecker,
) -> AnswerVerdict | None:
    """The verdict of an answer decided without a run (deduction, or a rejected answer);
    `tree` is the answer's syntax tree from `_parse_answer`, when it has one."""
    if task.task_type is TaskType.DEDUCTION:
        return _grade_deduction(facts.golds[0], answer, task.outputs[0])
    if task.task_type is TaskType.ABDUCTION:
        call = read_input(answer.strip())  # remembered: `_parse_answer` read it just before
        problem = call if isinstance(call, Problem) else None
    else:
        checked = (
            check_program_tree(tree, answer, options.entry, checker)
            if isinstance(tree, ast.Module)
            else check_program(answer, options.entry, checker)
        )
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


def _check_task(
    task: Task, options: ExecutionOptions, checker: PolicyChecker, index: int
) -> _TaskFacts:
    golds = []
    for output in task.outputs:
        try:
            golds.append(literal_value(output))
        except LiteralError as exc:
            raise BadTask(f"item {index}: gold output is not a Python literal ({exc})") from None
    if task.task_type is TaskType.ABDUCTION:
        info = check_program(task.program, options.entry, checker)
        if isinstance(info, Problem):
            raise BadTask(f"item {index}: the task's program is unusable: {info.message}")
    hidden: list[bytes] = []
    if task.task_type is TaskType.INDUCTION:
        for k in task.hidden_indices:
            call = read_input(task.inputs[k])
            if isinstance(call, Problem):
                raise BadTask(f"item {index}: input {k} is unusable: {call.message}")
            hidden.append(call)
    return _TaskFacts(golds, hidden)


def _grade_deduction(gold: object, answer: str, gold_text: str) -> AnswerVerdict:
    answer = answer.strip()
    if answer == gold_text:  # read as a literal by `_check_task`: the same value (see `_judge`)
        return _verdict(Verdict.CORRECT)
    try:
        value = parse_literal(answer)
    except LiteralError as exc:
        return _verdict(
            Verdict.INVALID, Reason.NOT_A_LITERAL, f"the answer is not a literal: {exc}"
        )
    if same_value(gold, value):
        return _verdict(Verdict.CORRECT)
    return _verdict(Verdict.INCORRECT, Reason.WRONG_OUTPUT, "the value differs from the output")


def _judge_induction(
    task: Task, golds: list[object], report: UnitReport, options: VerifyOptions
) -> AnswerVerdict:
    hidden = task.hidden_indices
    if report.failure and report.failure.reason is Reason.SANDBOX_ERROR:
        return _verdict(Verdict.SANDBOX_ERROR, Reason.SANDBOX_ERROR, report.failure.message)
    passed, first_failure = 0, None
    for position, index in enumerate(hidden):
        verdict = _judge(_call(report, 0, position), golds[index], task, index)
        if verdict.verdict is Verdict.CORRECT:
            passed += 1
        elif first_failure is None:
            first_failure = verdict
    if first_failure is None:
        return _verdict(Verdict.CORRECT)
    score = passed / len(hidden) if options.induction_rule == "fraction" else 0.0
    message = f"{passed}/{len(hidden)} hidden pairs pass; first failure: {first_failure.message}"
    return _verdict(Verdict.INCORRECT, first_failure.reason, message, score)


def _judge(result: CallResult, gold: object, task: Task, index: int = 0) -> AnswerVerdict:
    """The verdict of one call's result against output `index` of `task` (`gold`: its value)."""
    if result.reason is Reason.SANDBOX_ERROR:
        return _verdict(Verdict.SANDBOX_ERROR, Reason.SANDBOX_ERROR, result.message)
    if result.output is None:
        return _verdict(Verdict.INCORRECT, result.reason, result.message)
    if result.output == task.outputs[index]:
        # The gold's very text, which `_check_task` read as a literal: the same value (a literal
        # equals itself: no literal form makes a NaN), without parsing it again.
        return _verdict(Verdict.CORRECT)
    try:
        correct = same_value(gold, literal_value(result.output))
    except LiteralError:
        correct = False  # not a literal: never equal
    if correct:
        return _verdict(Verdict.CORRECT)
    return _verdict(Verdict.INCORRECT, Reason.WRONG_OUTPUT, "the value differs from the output")


def _verdict(
    verdict: Verdict, reason: Reason | None = None, message: str = "", score: float | None = None
) -> AnswerVerdict:
    if score is None:
        score = 1.0 if verdict is Verdict.CORRECT else 0.0
    return AnswerVerdict(verdict=verdict, score=score, reason=reason, message=message)
