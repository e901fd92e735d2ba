"""`PoolRunner`: the executor's `SandboxPool` seen as the `JobRunner` the AZR logic needs."""

from __future__ import annotations

import math

from azr_executor.azr.jobs import JobOutcome
from azr_executor.judging import HARNESS_SOURCE, harness_compiled
from azr_executor.sandbox import Job, Limits, PairMember, SandboxPool

__all__ = ["PoolRunner"]

# The report of up to 64 programs' calls with their (bounded) output reprs.
_REPORT_BYTES = 8 << 20


class PoolRunner:
    """Runs harness jobs on the sandbox pool, under the limits of the AZR request, each held to
    the service's maxima (`AZR_EXECUTOR_MAX_*`): a job of many units never gets more wall time,
    CPU time or output than one `/v1/run` could ask for."""

    def __init__(self, pool: SandboxPool) -> None:
        self._pool = pool

    @property
    def parallelism(self) -> int:
        return self._pool.settings.zygotes

    @property
    def sweeps_units(self) -> bool:
        return self._pool.sweeps_units

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
        s = self._pool.settings
        wall_s = min(timeout_s, s.max_wall_timeout_s)
        limits = Limits(
            wall_s=wall_s,
            cpu_s=max(1, min(math.ceil(wall_s), s.max_cpu_timeout_s)),
            memory_mb=min(memory_limit_mb, s.max_memory_limit_mb),
            output_bytes=min(_REPORT_BYTES, s.max_output_limit_bytes),
        )
        compiled = harness_compiled() if code == HARNESS_SOURCE else None
        result = await self._pool.run(
            # Not pipelined: a job waits in the pool for the first idle zygote, instead of in
            # one zygote's pipe behind a long job while another idles.
            Job(code=code, stdin=stdin, limits=limits, pipelined=False, compiled=compiled),
            avoid_hash_seed=avoid_hash_seed,
            member=member,
        )
        detail = result.kill_reason or ""
        if result.exception is not None:
            detail = f"{result.exception.type}: {result.exception.message}"[:500]
        elif result.signal is not None:
            detail = f"killed by signal {result.signal}"
        return JobOutcome(result.status, result.stdout, result.hash_seed, detail, result.cpu_ms)
