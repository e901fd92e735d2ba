"""Validation of proposals: static checks, then two harness jobs per program.

A proposal is valid only when every check below holds, in this order:
1. the program parses, defines a top-level entry function with at least one parameter, and
   passes the policy; every input is data: an argument list in the literal grammar (`inputs.py`);
2. job A (one process): the program is loaded once and its calls run in order, twice over. Every
   call returns normally with a plain-literal output under the size limit; the second pass must
   repeat the first (else `state_dependent`: the program keeps state between calls);
3. job B (another process, on a zygote with another hash seed and memory layout): the calls run
   again in reverse order, each on a fresh exec of the program (a new namespace) in that one
   process; or, with `fresh_process_per_call=True`, each in its own fork of the loaded program.
   Outputs must equal job A's by value (else `nondeterministic`).
Jobs A and B of a chunk run at the same time, as a pair (see `_validate_chunk`); a proposal that
fails A gets A's reason, whatever B found. Proposals are packed into a few jobs (`jobs.py`);
inside a job each program runs in its own fork, so process creation is two forks per program
(plus one per input but the last in B with `fresh_process_per_call=True`).

What B's fresh exec per call guarantees, and what a fork per input did beyond it:
- each call starts from the program as loaded: its globals, functions, classes and default
  arguments are new, so state the program keeps in its own namespace never reaches another call
  (A's second pass already rejects such a program); the opposite orders of A and B, with A's two
  passes, reject an output that depends on the calls made before it through anything else;
- a fork per input also gave each call a pristine interpreter: modules the program imported
  (their attributes), the standard library's caches, the heap and the garbage collector's state.
  With the fresh exec these persist from one call to the next in B, so an output that depends on
  such state in a way that gives the same outputs in A's forward order twice and in B's reverse
  order is not rejected (no such dependence is known among real programs; a module attribute
  set by one input and read by another is rejected, `test_azr_semantics.py`).
"""

from __future__ import annotations

import asyncio

from azr_proto.azr import (
    ExecutionOptions,
    Proposal,
    Reason,
    TaskType,
    ValidationResult,
    ValidationStatus,
)
from azr_proto.literals import LiteralError, same_value

from azr_executor.azr.inputs import Problem, check_program, literal_value, read_input
from azr_executor.azr.jobs import CallResult, JobRunner, Unit, UnitReport, chunked, run_units
from azr_executor.azr.policy import DEFAULT_POLICY, PolicyChecker
from azr_executor.sandbox.jobs import JobPair

__all__ = ["read_proposal", "same_output", "validate_proposals"]


async def validate_proposals(
    runner: JobRunner, proposals: list[Proposal], options: ExecutionOptions
) -> list[ValidationResult]:
    """Validate every proposal concurrently; one result per proposal, in order."""
    checker = PolicyChecker(options.policy or DEFAULT_POLICY)
    results: list[ValidationResult | None] = [None] * len(proposals)
    # Each chunk checks its own proposals statically before its jobs, once the chunk before it
    # has handed its jobs over: the first chunk's jobs start while the others are checked.
    chunks = chunked(list(enumerate(proposals)), runner.parallelism)
    handed = [asyncio.Event() for _ in chunks]
    await asyncio.gather(
        *(
            _validate_chunk(
                runner,
                chunk,
                options,
                checker,
                results,
                after=handed[k - 1] if k else None,
                handed=handed[k],
            )
            for k, chunk in enumerate(chunks)
        )
    )
    return [r or _invalid(Reason.MALFORMED_RESULT, "not validated") for r in results]


def read_proposal(
    proposal: Proposal, options: ExecutionOptions, checker: PolicyChecker
) -> ValidationResult | list[bytes]:
    """The proposal's inputs read as data (one encoded call each), or the result of a proposal
    that fails before any run."""
    if proposal.task_type is TaskType.INDUCTION and not (proposal.message or "").strip():
        return _invalid(Reason.MISSING_MESSAGE, "an induction proposal needs a message")
    info = check_program(proposal.program, options.entry, checker)
    if isinstance(info, Problem):
        return _invalid(info.reason, info.message)
    calls = []
    for index, source in enumerate(proposal.inputs):
        call = read_input(source)
        if isinstance(call, Problem):
            return _invalid(call.reason, f"input {index}: {call.message}", index)
        calls.append(call)
    return calls


def same_output(a: str, b: str) -> bool:
    """Whether two output reprs denote equal values (`same_value`); a text that is not a
    literal equals nothing."""
    if a == b:
        return True
    try:
        return same_value(literal_value(a), literal_value(b))
    except LiteralError:
        return False


async def _validate_chunk(
    runner: JobRunner,
    chunk: list[tuple[int, Proposal]],
    options: ExecutionOptions,
    checker: PolicyChecker,
    results: list[ValidationResult | None],
    *,
    after: asyncio.Event | None = None,
    handed: asyncio.Event | None = None,
) -> None:
    """Static checks, then jobs A and B for the statically valid proposals of a chunk; fills
    `results` in place.

    A and B are a pair (`JobPair`): B, the costlier, goes to the first free zygote, and A to
    a zygote with another hash seed, at the same time when one is free. So no zygote waits for
    the other's A before it can run a B (one slow program in an A held all B's of the other
    zygote back). The price: B also runs the proposals that fail A, whose result stays A's
    failure. That is cheap for an exception, but a program that loops holds both zygotes for
    `timeout_s` instead of one, and pairs run one at a time on two zygotes: k looping
    proposals cost about k timeouts, where A's dealt half to each zygote cost the larger half
    (on average 0.75 k for k = 2, 0.69 k for k = 4; at worst half). A B that did not get another
    seed than its A (a runner that cannot choose seeds, a zygote replaced) runs again, avoiding
    A's seed.
    """
    if after is not None:  # not the first chunk: the one before has handed its jobs over
        await after.wait()
    try:
        await _check_and_run(runner, chunk, options, checker, results, handed)
    finally:
        if handed is not None:
            handed.set()


async def _check_and_run(
    runner: JobRunner,
    chunk: list[tuple[int, Proposal]],
    options: ExecutionOptions,
    checker: PolicyChecker,
    results: list[ValidationResult | None],
    handed: asyncio.Event | None,
) -> None:
    proposals = []
    # Static checks read programs and inputs (CPU in proportion to the text): in a worker
    # thread, so the event loop serves other requests meanwhile.
    reads = await asyncio.to_thread(
        lambda: [read_proposal(proposal, options, checker) for _, proposal in chunk]
    )
    for (index, proposal), read in zip(chunk, reads, strict=True):
        if isinstance(read, ValidationResult):
            results[index] = read
        else:
            proposals.append((index, proposal, read))
    if not proposals:
        return
    pair = JobPair()
    runs = asyncio.gather(
        run_units(
            runner,
            [_second_unit(p, calls, options) for _, p, calls in proposals],
            options,
            member=pair.leader,
        ),
        run_units(
            runner,
            [Unit(p.program, calls, passes=2) for _, p, calls in proposals],
            options,
            member=pair.follower,
        ),
    )
    if handed is not None:  # the runs start before the next chunk's checks (both next turn)
        handed.set()
    second, first = await runs
    again: dict[int | None, list[tuple[int, Proposal, list[bytes], list[str]]]] = {}

    def settle() -> None:  # comparing outputs reads them with the grammar: in a thread too
        for (index, proposal, calls), report, later in zip(proposals, first, second, strict=True):
            outputs, failed = _outputs(report, len(proposal.inputs), passes=2)
            if failed is None:
                failed = _state_dependence(outputs)
            if failed is not None:
                results[index] = failed
            elif _same_seed(report.hash_seed, later) or _sandbox_failure(later):
                again.setdefault(report.hash_seed, []).append((index, proposal, calls, outputs[0]))
            else:
                results[index] = _compare_processes(outputs[0], later, len(proposal.inputs))

    await asyncio.to_thread(settle)
    for seed, group in again.items():  # job B again, avoiding the hash seed job A ran with
        units = [_second_unit(p, calls, options) for _, p, calls, _ in group]
        reports = await run_units(runner, units, options, avoid_hash_seed=seed)
        for (index, proposal, _, first_outputs), report in zip(group, reports, strict=True):
            if _same_seed(seed, report):
                results[index] = _from_call(
                    CallResult(
                        reason=Reason.SANDBOX_ERROR, message="no process with another hash seed"
                    ),
                    None,
                )
            else:
                results[index] = _compare_processes(first_outputs, report, len(proposal.inputs))


def _same_seed(seed: int | None, report: UnitReport) -> bool:
    """Whether `report` may come from a process with hash seed `seed` (unknown seeds may)."""
    return seed is None or report.hash_seed is None or report.hash_seed == seed


def _sandbox_failure(report: UnitReport) -> bool:
    return report.failure is not None and report.failure.reason is Reason.SANDBOX_ERROR


def _second_unit(proposal: Proposal, calls: list[bytes], options: ExecutionOptions) -> Unit:
    """Job B's unit: the inputs in reverse order in one process, each call on a fresh exec of
    the program; or (`fresh_process_per_call`) each input in its own fork of the loaded
    program."""
    if len(calls) > 1 and options.fresh_process_per_call:
        return Unit(proposal.program, calls, mode="forked")
    return Unit(proposal.program, calls, mode="fresh", reverse=True)


def _state_dependence(outputs: list[list[str]]) -> ValidationResult | None:
    for index, (once, twice) in enumerate(zip(outputs[0], outputs[1], strict=True)):
        if not same_output(once, twice):
            return _invalid(
                Reason.STATE_DEPENDENT,
                f"input {index}: the second call in the same process returned "
                f"{_clip(twice)} instead of {_clip(once)}",
                index,
            )
    return None


def _compare_processes(outputs: list[str], report: UnitReport, n: int) -> ValidationResult:
    again, failed = _outputs(report, n, passes=1)
    if failed:
        if failed.status is ValidationStatus.INVALID and failed.reason not in (
            Reason.TIMEOUT,
            Reason.MEMORY_LIMIT,
        ):
            failed.reason = Reason.NONDETERMINISTIC
            failed.message = f"passed in one process, failed in another: {failed.message}"
        return failed
    for index in range(n):
        if not same_output(outputs[index], again[0][index]):
            return _invalid(
                Reason.NONDETERMINISTIC,
                f"input {index}: {_clip(outputs[index])} in one process, "
                f"{_clip(again[0][index])} in another (different hash seed"
                + (", fresh process per call)" if n > 1 else ")"),
                index,
            )
    for index, output in enumerate(outputs):
        # Equal reprs were compared as text above; each output is still read as a literal once
        # (the harness sends only literal reprs, but a report is the program's process's own).
        if not _is_literal(output):
            return _invalid(
                Reason.OUTPUT_NOT_LITERAL, f"input {index}: {_clip(output)} is not a literal", index
            )
    return ValidationResult(status=ValidationStatus.VALID, outputs=outputs, message="valid")


def _is_literal(text: str) -> bool:
    try:
        literal_value(text)
    except LiteralError:
        return False
    return True


def _outputs(
    report: UnitReport, n: int, *, passes: int
) -> tuple[list[list[str]], ValidationResult | None]:
    """The outputs of every pass, or the result that invalidates the proposal."""
    if report.failure:
        return [], _from_call(report.failure, None)
    for results in report.passes:
        for index, result in enumerate(results):
            if result.reason is not None:
                return [], _from_call(result, index)
    outputs = [[r.output for r in results] for results in report.passes]
    if len(outputs) != passes or any(len(row) != n or None in row for row in outputs):
        return [], _invalid(Reason.MALFORMED_RESULT, "the job reported too few results")
    return [[o for o in row if o is not None] for row in outputs], None


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
