"""`PoolRunner`: the executor's `SandboxPool` seen as the `JobRunner` the AZR logic needs."""

from __future__ import annotations

import marshal
import math

from azr_executor.azr.jobs import HARNESS_SOURCE, JobOutcome
from azr_executor.sandbox import Job, Limits, PairMember, SandboxPool

__all__ = ["PoolRunner"]


_harness_compiled: list[bytes] = []


def _compiled(code: str) -> bytes | None:
    """The harness, compiled once per service (our own code, never a submitted one)."""
    if code != HARNESS_SOURCE:
        return None
    if not _harness_compiled:
        _harness_compiled.append(marshal.dumps(compile(code, "<program>", "exec")))
    return _harness_compiled[0]


class PoolRunner:
    """Runs harness jobs on the sandbox pool, under the limits of the AZR request."""

    def __init__(self, pool: SandboxPool) -> None:
        self._pool = pool

    @property
    def parallelism(self) -> int:
        return self._pool.settings.zygotes

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
        limits = Limits(
            wall_s=timeout_s,
            cpu_s=max(1, math.ceil(timeout_s)),
            memory_mb=memory_limit_mb,
            # the report of up to 64 programs' calls with their (bounded) output reprs
            output_bytes=8 << 20,
        )
        result = await self._pool.run(
            # Not pipelined: a job waits in the pool for the first idle zygote, instead of in
            # one zygote's pipe behind a long job while another idles.
            Job(code=code, stdin=stdin, limits=limits, pipelined=False, compiled=_compiled(code)),
            avoid_hash_seed=avoid_hash_seed,
            member=member,
        )
        detail = result.kill_reason or ""
        if result.exception is not None:
            detail = f"{result.exception.type}: {result.exception.message}"[:500]
        elif result.signal is not None:
            detail = f"killed by signal {result.signal}"
        return JobOutcome(result.status, result.stdout, result.hash_seed, detail, result.cpu_ms)
