"""Harness jobs: build the spec of one program's batch of calls, run it, read the report back.

The AZR logic needs one thing from a sandbox: run a piece of trusted code with some stdin, under
a time and memory limit, optionally on a zygote whose hash seed differs from a given one.
`JobRunner` names that; `PoolRunner` adapts the executor's `SandboxPool` to it.
"""

from __future__ import annotations

import ast
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from azr_proto.azr import Reason
from azr_proto.statuses import RunStatus

__all__ = [
    "HARNESS_SOURCE",
    "CallResult",
    "HarnessJob",
    "HarnessReport",
    "JobOutcome",
    "JobRunner",
    "run_harness",
    "same_value",
]

# The harness file ends by defining `main`; the job calls it.
HARNESS_SOURCE = (Path(__file__).with_name("harness.py")).read_text() + "\nmain()\n"

_STATUS_REASONS = {
    RunStatus.RUNTIME_ERROR: Reason.CRASHED,
    RunStatus.TIMEOUT: Reason.TIMEOUT,
    RunStatus.MEMORY_LIMIT: Reason.MEMORY_LIMIT,
    RunStatus.OUTPUT_LIMIT: Reason.OUTPUT_LIMIT,
    RunStatus.KILLED: Reason.CRASHED,
}
_KIND_REASONS = {
    "program_error": Reason.PROGRAM_ERROR,
    "input_error": Reason.INPUT_ERROR,
    "runtime_error": Reason.RUNTIME_ERROR,
    "output_not_literal": Reason.OUTPUT_NOT_LITERAL,
    "output_too_long": Reason.OUTPUT_TOO_LONG,
    "crashed": Reason.CRASHED,
}


@dataclass(frozen=True)
class HarnessJob:
    """One program and the argument lists to call its entry with."""

    program: str
    entry: str
    calls: list[str]
    timeout_s: float
    memory_limit_mb: int
    max_output_chars: int
    mode: Literal["sequential", "forked"] = "sequential"
    passes: int = 1
    stop_on_error: bool = True


@dataclass(frozen=True)
class JobOutcome:
    """What a sandbox says about one run of the harness."""

    status: RunStatus
    stdout: str
    hash_seed: int | None = None
    detail: str = ""


class JobRunner(Protocol):
    """Runs the harness source with `stdin` in a fresh sandboxed process."""

    async def run(
        self,
        code: str,
        stdin: bytes,
        *,
        timeout_s: float,
        memory_limit_mb: int,
        avoid_hash_seed: int | None = None,
    ) -> JobOutcome: ...


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
class HarnessReport:
    """A whole job's outcome. `failure` is set when the job as a whole failed (load error,
    timeout, crash, sandbox fault, corrupt report); then `passes` holds what is known."""

    passes: list[list[CallResult]] = field(default_factory=list)
    failure: CallResult | None = None
    hash_seed: int | None = None


async def run_harness(
    runner: JobRunner, job: HarnessJob, *, avoid_hash_seed: int | None = None
) -> HarnessReport:
    """Run `job` through the harness and parse its report. Never raises for program faults."""
    nonce = "AZR-" + secrets.token_hex(16) + ":"
    spec = {
        "nonce": nonce,
        "program": job.program,
        "entry": job.entry,
        "calls": job.calls,
        "mode": job.mode,
        "passes": job.passes,
        "stop_on_error": job.stop_on_error,
        "max_output_chars": job.max_output_chars,
    }
    stdin = json.dumps(spec).encode()
    for _attempt in range(2):  # one retry: a sandbox fault is ours, not the program's
        outcome = await runner.run(
            HARNESS_SOURCE,
            stdin,
            timeout_s=job.timeout_s,
            memory_limit_mb=job.memory_limit_mb,
            avoid_hash_seed=avoid_hash_seed,
        )
        if outcome.status is not RunStatus.SANDBOX_ERROR:
            break
    return parse_report(outcome, nonce)


def parse_report(outcome: JobOutcome, nonce: str) -> HarnessReport:
    """Turn a job outcome into a report; anything unexpected is a failure of the job."""
    if outcome.status is RunStatus.SANDBOX_ERROR:
        return HarnessReport(
            failure=CallResult(reason=Reason.SANDBOX_ERROR, message=outcome.detail),
            hash_seed=outcome.hash_seed,
        )
    line = next((ln for ln in reversed(outcome.stdout.splitlines()) if ln.startswith(nonce)), None)
    if outcome.status is not RunStatus.OK or line is None:
        reason = _STATUS_REASONS.get(outcome.status, Reason.MALFORMED_RESULT)
        message = outcome.detail or f"the program's job ended with status {outcome.status}"
        if outcome.status is RunStatus.OK:
            message = "the job wrote no result document"
        return HarnessReport(failure=CallResult(reason=reason, message=message))
    try:
        doc = json.loads(line[len(nonce) :])
        passes = [[_call_result(r) for r in results] for results in doc["passes"]]
        load = doc["load"]
    except (ValueError, KeyError, TypeError) as exc:
        return HarnessReport(
            failure=CallResult(reason=Reason.MALFORMED_RESULT, message=f"corrupt report: {exc}")
        )
    failure = _call_result(load) if load else None
    return HarnessReport(passes=passes, failure=failure, hash_seed=outcome.hash_seed)


def _call_result(raw: Any) -> CallResult:
    if not isinstance(raw, dict):
        raise TypeError("a call result is an object")
    if "repr" in raw:
        if not isinstance(raw["repr"], str):
            raise TypeError("a repr is a string")
        return CallResult(output=raw["repr"])
    reason = _KIND_REASONS.get(str(raw.get("error")), Reason.MALFORMED_RESULT)
    kind, text = str(raw.get("type", "")), str(raw.get("message", ""))[:1000]
    return CallResult(reason=reason, message=f"{kind}: {text}" if kind else text)


def same_value(a: str, b: str) -> bool:
    """Whether two literal reprs denote equal values (Python `==`: `1 == 1.0`, `(1,) != [1]`).

    Both sides go through `ast.literal_eval`, so only builtin values are compared and no model
    code runs; a side that is not a literal makes them unequal.
    """
    try:
        return bool(ast.literal_eval(a) == ast.literal_eval(b))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False
