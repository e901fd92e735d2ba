"""A test-only stand-in for the sandbox: runs the harness with a plain `python -c` subprocess.

It keeps the contract the AZR code relies on (fresh process per job, hash seed reported and
avoidable, wall-clock limit), so the AZR logic is tested apart from the sandbox itself.
"""

from __future__ import annotations

import asyncio
import os
import random
import resource
import sys

import pytest
from azr_executor.azr.jobs import JobOutcome
from azr_proto.statuses import RunStatus


class SubprocessRunner:
    def __init__(self, concurrency: int = 2) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self.parallelism = concurrency
        self.jobs = 0

    async def run(
        self, code, stdin, *, timeout_s, memory_limit_mb, avoid_hash_seed=None, member=None
    ):
        seed = random.randrange(1, 2**32)
        while seed == avoid_hash_seed:
            seed = random.randrange(1, 2**32)
        limit = memory_limit_mb * 1024 * 1024

        def confine() -> None:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

        env = {"PYTHONHASHSEED": str(seed), "PATH": os.environ.get("PATH", "")}
        async with self._slots:
            self.jobs += 1
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-I", "-c", code,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env=env, preexec_fn=confine,
            )  # fmt: skip
            try:
                out, err = await asyncio.wait_for(proc.communicate(stdin), timeout_s)
            except TimeoutError:
                proc.kill()
                await proc.wait()
                return JobOutcome(RunStatus.TIMEOUT, "", seed, "wall-clock limit")
        if proc.returncode != 0:
            status = RunStatus.MEMORY_LIMIT if b"MemoryError" in err else RunStatus.RUNTIME_ERROR
            return JobOutcome(status, out.decode(errors="replace"), seed, err.decode()[-300:])
        return JobOutcome(RunStatus.OK, out.decode(errors="replace"), seed)


@pytest.fixture
def runner() -> SubprocessRunner:
    return SubprocessRunner()
