"""HTTP adapters: `TaskStore` over the buffer service and `TaskJudge` over the executor.

Both talk only through the async proto clients (`BufferClient`, `ExecutorClient`). Concurrency
is bounded per process by a semaphore (`concurrency` requests in flight). Retrying is the
clients' job alone: transport faults, 429 and 5xx, and items that met a `sandbox_error`, are
re-sent by the client (`max_retries`); an item still at `sandbox_error` after that is a judge
error, which the trainer leaves out of the update. Any other `ProtoError` propagates: an outage
never becomes a reward.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TypeVar

from azr_proto.azr import (
    Proposal as WireProposal,
)
from azr_proto.azr import (
    Task as WireTask,
)
from azr_proto.azr import (
    TaskType as WireTaskType,
)
from azr_proto.azr import (
    ValidateRequest,
    ValidateResponse,
    ValidationResult,
    ValidationStatus,
    VerifyItem,
    VerifyOptions,
    VerifyRequest,
    VerifyResponse,
)
from azr_proto.azr import (
    Verdict as WireVerdict,
)
from azr_proto.buffer import (
    RunCreate,
    SampleRequest,
    TaskIn,
    TaskSource,
)
from azr_proto.buffer import (
    SampleStrategy as WireStrategy,
)
from azr_proto.buffer_client import BufferClient
from azr_proto.executor_client import ExecutorClient
from azr_proto.tasks import TaskType

from azr_trainer.tasks import (
    TASK_TYPES,
    Check,
    Proposal,
    SampleStrategy,
    Task,
    Verdict,
)

__all__ = ["BufferStore", "ExecutorJudge"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
CHUNK = 256  # items per request: big enough to batch, small enough to spread over replicas


class BufferStore:
    """`TaskStore` backed by one run of the buffer service (`BufferClient`)."""

    def __init__(self, client: BufferClient, run: str, *, concurrency: int = 16) -> None:
        self.client = client
        self.run = run
        self._sem = asyncio.Semaphore(concurrency)

    async def ensure_run(self, capacity: int | None = None) -> None:
        await self.client.create_run(RunCreate(name=self.run, capacity=capacity), exist_ok=True)

    async def insert(self, tasks: Sequence[Task]) -> None:
        body = [
            TaskIn(
                type=TaskType(t.task_type),
                program=t.program,
                inputs=list(t.inputs),
                outputs=list(t.outputs),
                message=t.message if t.task_type == "induction" else None,
                step=t.step,
                source=TaskSource.SEED if t.step == 0 else TaskSource.PROPOSED,
            )
            for t in tasks
        ]
        async with self._sem:
            await self.client.insert_tasks(self.run, body)

    async def sample(
        self, task_type: str, n: int, *, strategy: SampleStrategy, step: int, seed: int
    ) -> list[Task]:
        # The service draws at random itself; `seed` only matters for in-memory stores.
        req = SampleRequest(
            type=TaskType(task_type),
            k=min(n, 1024),
            strategy=WireStrategy(strategy),
            step=None if strategy == "uniform" else max(step, 0),
        )
        async with self._sem:
            got = await self.client.sample(self.run, req)
        return [
            Task(
                str(t.type),
                t.program,
                tuple(t.inputs),
                tuple(t.outputs),
                message=t.message or "",
                step=t.step,
                id=str(t.id),
            )
            for t in got
        ]

    async def sizes(self) -> dict[str, int]:
        stats = await self.client.stats(self.run)
        counts = {str(k): v.count for k, v in stats.by_type.items()}
        return {t: counts.get(t, 0) for t in TASK_TYPES}

    async def truncate(self, step: int) -> None:
        resp = await self.client.truncate(self.run, step)
        logger.info(
            "buffer run %s truncated to step %d (%d tasks removed)", self.run, step, resp.deleted
        )


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class ExecutorJudge:
    """`TaskJudge` backed by the executor's `/v1/azr` routes.

    One `ExecutorClient` spreads the requests over its replicas and re-sends the items that met
    a `sandbox_error` (its `max_retries`); what still fails after that becomes a judge error
    here, with no second layer of retries.
    """

    def __init__(
        self, client: ExecutorClient, *, concurrency: int = 32, timeout_s: float = 10.0
    ) -> None:
        self.client = client
        self.timeout_s = timeout_s
        self._sem = asyncio.Semaphore(concurrency)

    async def _validate(self, chunk: Sequence[WireProposal]) -> ValidateResponse:
        async with self._sem:
            return await self.client.azr_validate(ValidateRequest(proposals=list(chunk)))

    async def _verify(self, chunk: Sequence[VerifyItem]) -> VerifyResponse:
        options = VerifyOptions(timeout_s=self.timeout_s)
        async with self._sem:
            return await self.client.azr_verify(VerifyRequest(items=list(chunk), options=options))

    async def check(self, proposals: Sequence[Proposal]) -> list[Check]:
        wire = [
            WireProposal(
                task_type=WireTaskType(p.task_type),
                program=p.program,
                inputs=list(p.inputs),
                message=p.message or None,
            )
            for p in proposals
        ]
        responses = await asyncio.gather(*(self._validate(c) for c in _chunks(wire, CHUNK)))
        flat = [r for resp in responses for r in resp.results]
        if len(flat) != len(proposals):
            raise RuntimeError(f"{len(proposals)} proposals validated as {len(flat)}")
        failed = sum(r.status is ValidationStatus.SANDBOX_ERROR for r in flat)
        if failed:
            logger.warning("validate: %d sandbox errors after the client's retries", failed)
        return [_check(r) for r in flat]

    async def verify(self, items: Sequence[tuple[Task, Sequence[str]]]) -> list[list[Verdict]]:
        wire = [
            VerifyItem(
                task=WireTask(
                    task_type=WireTaskType(task.task_type),
                    program=task.program,
                    inputs=list(task.inputs),
                    outputs=list(task.outputs),
                    message=task.message or None,
                ),
                answers=list(answers),
            )
            for task, answers in items
        ]
        responses = await asyncio.gather(*(self._verify(c) for c in _chunks(wire, CHUNK)))
        flat = [r for resp in responses for r in resp.results]
        if len(flat) != len(items):
            raise RuntimeError(f"{len(items)} verify items answered with {len(flat)}")
        out = [[_VERDICTS.get(v.verdict, Verdict.WRONG) for v in r.verdicts] for r in flat]
        failed = sum(v is Verdict.JUDGE_ERROR for row in out for v in row)
        if failed:
            logger.warning("verify: %d sandbox errors after the client's retries", failed)
        return out


# Incorrect answers and invalid content inside a well-formed answer are both WRONG.
_VERDICTS = {WireVerdict.CORRECT: Verdict.CORRECT, WireVerdict.SANDBOX_ERROR: Verdict.JUDGE_ERROR}


def _check(result: ValidationResult) -> Check:
    if result.status is ValidationStatus.SANDBOX_ERROR:
        return Check(valid=False, reason="sandbox_error", judge_error=True)
    return Check(
        valid=result.status is ValidationStatus.VALID,
        outputs=tuple(result.outputs or ()),
        reason=str(result.reason) if result.reason is not None else "",
    )
