"""Harness jobs: pack programs (units) into sandbox jobs, run them, read the reports back.

The AZR logic needs one thing from a sandbox: run a piece of trusted code with some stdin in a
fresh confined process, under a time and memory limit, optionally on a zygote whose hash seed
differs from a given one. `JobRunner` names that; `PoolRunner` adapts the executor's pool to it.

Process creation is the cost that matters (a pool job costs several ms natively, a fork inside
gVisor 14-30 ms), so one job carries many units; the harness forks a pristine child per unit, so
units still share nothing. Jobs are cut into about `2 * runner.parallelism` chunks to keep every
zygote busy.
"""

from __future__ import annotations

import math
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from azr_proto.azr import ExecutionOptions, Reason
from azr_proto.statuses import RunStatus

from azr_executor.judging import (
    HARNESS_SOURCE,
    UnitOutcome,
    UnitSpec,
    build_spec,
    clean_text,
    read_outcomes,
)
from azr_executor.sandbox.jobs import PairMember

__all__ = [
    "HARNESS_SOURCE",
    "MAX_UNITS_PER_JOB",
    "CallResult",
    "JobOutcome",
    "JobRunner",
    "Unit",
    "UnitReport",
    "chunked",
    "run_units",
]

MAX_UNITS_PER_JOB = 64
MAX_JOB_WALL_S = 120.0

_STATUS_REASONS = {
    RunStatus.RUNTIME_ERROR: Reason.CRASHED,
    RunStatus.TIMEOUT: Reason.TIMEOUT,
    RunStatus.MEMORY_LIMIT: Reason.MEMORY_LIMIT,
    RunStatus.OUTPUT_LIMIT: Reason.OUTPUT_LIMIT,
    RunStatus.KILLED: Reason.CRASHED,
}
_KIND_REASONS = {
    "program_error": Reason.PROGRAM_ERROR,
    "runtime_error": Reason.RUNTIME_ERROR,
    "output_not_literal": Reason.OUTPUT_NOT_LITERAL,
    "output_too_long": Reason.OUTPUT_TOO_LONG,
    "crashed": Reason.CRASHED,
    "timeout": Reason.TIMEOUT,
}


@dataclass(frozen=True)
class JobOutcome:
    """What a sandbox says about one run of the harness."""

    status: RunStatus
    stdout: str
    hash_seed: int | None = None
    detail: str = ""
    cpu_ms: float = 0.0


class JobRunner(Protocol):
    """Runs the harness source with `stdin` in a fresh sandboxed process."""

    @property
    def parallelism(self) -> int:
        """How many jobs can run at once (the number of zygotes)."""
        ...

    # Optional: `sweeps_units = True` when a job's `kill(-1)` reaches only the job's own
    # processes, so the harness kills what each unit left (`judging.build_spec`). A runner
    # without it (a fake in tests, running the harness as the caller's uid) never sweeps.

    async def run(
        self,
        code: str,
        stdin: bytes,
        *,
        timeout_s: float,
        memory_limit_mb: int,
        avoid_hash_seed: int | None = None,
        member: PairMember | None = None,
    ) -> JobOutcome:
        """`member`: this job is one of a `JobPair`, two jobs submitted together that must run
        with different hash seeds: the follower runs with a seed other than the leader's, at
        the same time when two zygotes are free. A runner that cannot choose seeds may ignore
        it; callers check the seeds they got (`JobOutcome.hash_seed`)."""
        ...


@dataclass(frozen=True)
class Unit:
    """One program and the calls of its entry, each the arguments read by `inputs.read_input`;
    run in one fork of the harness (modes: see `inside/harness.py`)."""

    program: str
    calls: list[bytes]
    mode: Literal["shared", "fresh", "forked"] = "shared"
    reverse: bool = False
    passes: int = 1
    stop_on_error: bool = True


@dataclass(frozen=True)
class CallResult:
    """One call's outcome: an output repr, or a failure reason with a message."""

    output: str | None = None
    reason: Reason | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.reason is None


@dataclass
class UnitReport:
    """One unit's outcome. `failure` is set when the unit as a whole failed (load error,
    timeout, crash, sandbox fault, corrupt report); `passes` then holds what is known."""

    passes: list[list[CallResult]] = field(default_factory=list)
    failure: CallResult | None = None
    hash_seed: int | None = None


def chunked(
    items: Sequence[Any], parallelism: int, *, n_chunks: int | None = None
) -> list[list[Any]]:
    """Deal `items` into about `2 * parallelism` chunks of at most `MAX_UNITS_PER_JOB` (or into
    `n_chunks`, when given).

    Dealt round-robin (chunk `c` holds items `c, c + n, c + 2n, ...`), not cut into runs: callers
    list items by kind (deduction, abduction, then induction with ten calls each), so runs would
    put all the costly items in one job, and that job alone would set the wall time.
    """
    if not items:
        return []
    if n_chunks is None:
        n_chunks = max(2 * parallelism, math.ceil(len(items) / MAX_UNITS_PER_JOB))
    n_chunks = min(n_chunks, len(items))
    return [list(items[c::n_chunks]) for c in range(n_chunks)]


async def run_units(
    runner: JobRunner,
    units: Sequence[Unit],
    options: ExecutionOptions,
    *,
    avoid_hash_seed: int | None = None,
    member: PairMember | None = None,
) -> list[UnitReport]:
    """Run `units` in one job; one report per unit, in order. Never raises for program faults.

    Units the job did not report (the job died as a whole) are re-run alone, so one rogue
    program cannot cost the others their results. `member`: see `JobRunner.run`; re-runs are
    no longer paired (a follower's avoid its leader's seed), so check each report's seed.
    """
    if not units:
        return []
    reports, failure = await _run_job(runner, units, options, avoid_hash_seed, member)
    if member is not None and not member.lead:
        avoid_hash_seed = member.pair.leader_seed
    missing = [i for i, r in enumerate(reports) if r is None]
    if missing and len(units) > 1 and failure.reason is not Reason.SANDBOX_ERROR:
        for i in missing:
            reports[i] = (
                await run_units(runner, [units[i]], options, avoid_hash_seed=avoid_hash_seed)
            )[0]
    return [r if r is not None else UnitReport(failure=failure) for r in reports]


async def _run_job(
    runner: JobRunner,
    units: Sequence[Unit],
    options: ExecutionOptions,
    avoid: int | None,
    member: PairMember | None,
) -> tuple[list[UnitReport | None], CallResult]:
    specs = [
        UnitSpec(
            program=u.program,
            calls=u.calls,
            timeout_s=options.timeout_s,
            max_chars=options.max_output_chars,
            mode=u.mode,
            reverse=u.reverse,
            passes=u.passes,
            stop_on_error=u.stop_on_error,
            entry=options.entry,
        )
        for u in units
    ]
    stdin, nonce, _ = build_spec(specs, sweep=bool(getattr(runner, "sweeps_units", False)))
    wall_s = min(MAX_JOB_WALL_S, options.timeout_s * len(units) + 5.0)
    for _attempt in range(2):  # one retry: a sandbox fault is ours, not the program's
        outcome = await runner.run(
            HARNESS_SOURCE,
            stdin,
            timeout_s=wall_s,
            memory_limit_mb=options.memory_limit_mb,
            avoid_hash_seed=avoid,
            member=member,
        )
        if outcome.status is not RunStatus.SANDBOX_ERROR or (
            member is not None and member.pair.abandoned
        ):
            break
        if member is not None:  # the retry runs alone, still away from the leader's seed
            avoid = None if member.lead else member.pair.leader_seed
            member = None
    reports: list[UnitReport | None] = []
    for unit, found in zip(specs, read_outcomes(outcome.stdout, nonce, len(units)), strict=True):
        reports.append(None if found is None else _unit_report(found, unit, outcome.hash_seed))
    return reports, _job_failure(outcome)


def _job_failure(outcome: JobOutcome) -> CallResult:
    """Why units are missing from a job's report."""
    if outcome.status is RunStatus.SANDBOX_ERROR:
        return CallResult(reason=Reason.SANDBOX_ERROR, message=outcome.detail or "sandbox error")
    if outcome.status is RunStatus.OK:
        return CallResult(reason=Reason.MALFORMED_RESULT, message="the job wrote no result")
    reason = _STATUS_REASONS.get(outcome.status, Reason.MALFORMED_RESULT)
    return CallResult(
        reason=reason, message=outcome.detail or f"the job ended with status {outcome.status}"
    )


def _unit_report(found: UnitOutcome, unit: UnitSpec, hash_seed: int | None) -> UnitReport:
    """One unit's report: how it ended, as the harness's parent saw it, decides a failure;
    only a unit that exited normally is read for its results."""
    failure = _ended_badly(found, unit)
    if failure is not None:
        return UnitReport(failure=failure, hash_seed=hash_seed)
    try:
        doc: Any = found.body
        passes = [[_call_result(r) for r in results] for results in doc["passes"]]
        load = doc["load"]
        report = UnitReport(
            passes=passes, failure=_call_result(load) if load else None, hash_seed=hash_seed
        )
    except (KeyError, TypeError, IndexError):
        report = UnitReport(failure=_CORRUPT, hash_seed=hash_seed)
    return report


_CORRUPT = CallResult(reason=Reason.CRASHED, message="the program's process wrote a corrupt report")


def _ended_badly(found: UnitOutcome, unit: UnitSpec) -> CallResult | None:
    if found.end == "timeout":
        return CallResult(
            reason=Reason.TIMEOUT, message=f"the program ran past {unit.timeout_s:g} s"
        )
    if found.end == "signal":
        if found.signal == signal.SIGXCPU:
            return CallResult(reason=Reason.TIMEOUT, message="the program ran out of CPU time")
        return CallResult(
            reason=Reason.CRASHED, message=f"the program's process died (signal {found.signal})"
        )
    if found.end == "over_cap":
        return CallResult(
            reason=Reason.CRASHED, message="the program's process wrote a report over its cap"
        )
    if found.end != "exit":
        return _CORRUPT
    if found.body is None:
        if found.corrupt:
            return _CORRUPT
        return CallResult(
            reason=Reason.CRASHED,
            message=f"the program's process exited (status {found.code}) before reporting",
        )
    return None


def _call_result(raw: Any) -> CallResult:
    if raw is None:  # a call not run (an earlier one failed)
        return CallResult()
    if not isinstance(raw, dict):
        raise TypeError("a call result is an object")
    if "repr" in raw:
        if not isinstance(raw["repr"], str):
            raise TypeError("a repr is a string")
        return CallResult(output=raw["repr"])
    reason = _KIND_REASONS.get(str(raw.get("error")), Reason.MALFORMED_RESULT)
    kind, text = clean_text(raw.get("type", ""), 200), clean_text(raw.get("message", ""), 1000)
    if kind == "MemoryError":
        reason = Reason.MEMORY_LIMIT
    return CallResult(reason=reason, message=f"{kind}: {text}" if kind else text)
