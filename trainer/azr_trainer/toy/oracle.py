"""Runs the grammar's programs on inputs and returns the repr of each result.

`Oracle` is what the task generator needs. `JudgeOracle` computes through the trainer's
`TaskJudge` (the executor's `/v1/azr/validate`, which also checks determinism across two fresh
processes and the policy): that is what `azr warmstart` uses. `SubprocessOracle` is a plain,
unsandboxed `python -I` subprocess for the grammar's *own* programs in unit tests; it refuses to
start unless told `trusted=True`. Model output is only ever judged through a `TaskJudge`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from azr_trainer.tasks import Proposal, TaskJudge

__all__ = ["CallResult", "Job", "JudgeOracle", "Oracle", "SubprocessOracle"]


@dataclass(frozen=True)
class Job:
    """One program and the inputs to call its `f` on, each the source inside `f(...)`."""

    source: str
    inputs: tuple[str, ...]


@dataclass(frozen=True)
class CallResult:
    """The outcome of one call: `ok` with the repr of the value, or an error line."""

    ok: bool
    output: str = ""
    error: str = ""


class Oracle(Protocol):
    """Anything that can run jobs and return one result per input, in order."""

    def run(self, jobs: list[Job]) -> list[list[CallResult]]: ...


# The harness runs each job in a fresh namespace, each call under a 2 s alarm. It reads JSON on
# stdin and writes JSON on stdout, so program output cannot be confused with results.
_HARNESS = r"""
import json, signal, sys
def _alarm(*_):
    raise TimeoutError("call took longer than 2 s")
signal.signal(signal.SIGALRM, _alarm)
out = []
for job in json.loads(sys.stdin.read()):
    ns = {}
    res = []
    try:
        exec(compile(job["source"], "<program>", "exec"), ns)
        fn = ns["f"]
    except BaseException as e:
        out.append([[False, "", type(e).__name__ + ": " + str(e)[:200]] for _ in job["inputs"]])
        continue
    for arg in job["inputs"]:
        try:
            signal.alarm(2)
            try:
                val = eval("_f(" + arg + ")", {"_f": fn})
            finally:
                signal.alarm(0)
            res.append([True, repr(val)[:2000], ""])
        except BaseException as e:
            res.append([False, "", type(e).__name__ + ": " + str(e)[:200]])
    out.append(res)
sys.stdout.write(json.dumps(out))
"""


class SubprocessOracle:
    """Runs jobs in one `python -I` child per batch. Not a sandbox: see the module docstring."""

    def __init__(self, *, timeout_s: float = 120.0, trusted: bool = False) -> None:
        if not trusted:
            raise ValueError(
                "SubprocessOracle is not a sandbox; use ExecutorOracle for model output, "
                "or pass trusted=True for the grammar's own programs"
            )
        self._timeout_s = timeout_s

    def run(self, jobs: list[Job]) -> list[list[CallResult]]:
        payload = json.dumps([{"source": j.source, "inputs": list(j.inputs)} for j in jobs])
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONHASHSEED": "0"}
        proc = subprocess.run(
            [sys.executable, "-I", "-c", _HARNESS],
            input=payload,
            capture_output=True,
            text=True,
            timeout=self._timeout_s,
            env=env,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"toy harness failed ({proc.returncode}): {proc.stderr[-500:]}")
        raw = json.loads(proc.stdout)
        return [[CallResult(ok=r[0], output=r[1], error=r[2]) for r in res] for res in raw]


class JudgeOracle:
    """Computes outputs through a `TaskJudge`: each call is validated as a one-input proposal.

    `call` runs a coroutine to completion from synchronous code (`asyncio.run`, or a blocking
    portal's `call`). A judge error (the executor failed after its retries) raises: an outage
    must never quietly shrink or bias the corpus.
    """

    def __init__(
        self, judge: TaskJudge, call: Callable[[Callable[[], Awaitable[Any]]], Any]
    ) -> None:
        self._judge = judge
        self._call = call

    def run(self, jobs: list[Job]) -> list[list[CallResult]]:
        flat = [Proposal("deduction", j.source, (i,)) for j in jobs for i in j.inputs]

        async def check() -> list[Any]:
            return await self._judge.check(flat)

        checks = self._call(check)
        if any(c.judge_error for c in checks):
            raise RuntimeError("the executor failed to run some toy programs (judge_error)")
        results = iter(
            CallResult(ok=c.valid, output=c.outputs[0] if c.valid else "", error=c.reason)
            for c in checks
        )
        return [[next(results) for _ in j.inputs] for j in jobs]
