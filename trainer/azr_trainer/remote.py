"""HTTP adapters: `TaskStore` over the buffer service and `TaskJudge` over the executor.

Both talk only through the async proto clients. Concurrency is bounded per process by a
semaphore (`concurrency` requests in flight); transport faults, 429 and 5xx are retried by the
clients themselves; a `sandbox_error` on an item is retried here `retries` times and then
reported as a judge error, which the trainer leaves out of the update. Any other `ProtoError`
propagates: an outage never becomes a reward.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Sequence
from typing import Any, TypeVar

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
    ValidationStatus,
    VerifyItem,
    VerifyOptions,
    VerifyRequest,
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

    def __init__(self, client: Any, run: str, *, concurrency: int = 16) -> None:
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

    `clients` are `ExecutorClient`s (anything with async `azr_validate` and `azr_verify`); the
    request chunks of one call are spread over them round-robin, and each client spreads its
    own requests over its replicas. The clients retry `sandbox_error` items themselves; what
    still fails after `retries` more rounds here becomes a judge error.
    """

    def __init__(
        self,
        clients: Sequence[Any],
        *,
        concurrency: int = 32,
        retries: int = 3,
        timeout_s: float = 10.0,
    ) -> None:
        if not clients:
            raise ValueError("ExecutorJudge needs at least one executor client")
        self.clients = list(clients)
        self.retries = retries
        self.timeout_s = timeout_s
        self._sem = asyncio.Semaphore(concurrency)
        self._next = itertools.cycle(range(len(self.clients)))

    def _client(self) -> Any:
        return self.clients[next(self._next)]

    async def _validate(self, chunk: Sequence[WireProposal]) -> Any:
        client = self._client()
        async with self._sem:
            return await client.azr_validate(ValidateRequest(proposals=list(chunk)))

    async def _verify(self, chunk: Sequence[VerifyItem]) -> Any:
        client = self._client()
        options = VerifyOptions(timeout_s=self.timeout_s)
        async with self._sem:
            return await client.azr_verify(VerifyRequest(items=list(chunk), options=options))

    async def check(self, proposals: Sequence[Proposal]) -> list[Check]:
        results: list[Check | None] = [None] * len(proposals)
        todo = list(range(len(proposals)))
        for attempt in range(1 + self.retries):
            if not todo:
                break
            wire = [
                WireProposal(
                    task_type=WireTaskType(proposals[i].task_type),
                    program=proposals[i].program,
                    inputs=list(proposals[i].inputs),
                    message=proposals[i].message or None,
                )
                for i in todo
            ]
            responses = await asyncio.gather(
                *(self._validate(chunk) for chunk in _chunks(wire, CHUNK))
            )
            flat = [r for resp in responses for r in resp.results]
            retry = []
            for i, r in zip(todo, flat, strict=True):
                if r.status is ValidationStatus.SANDBOX_ERROR:
                    retry.append(i)
                    continue
                reason = str(r.reason) if r.reason is not None else ""
                results[i] = Check(
                    valid=r.status is ValidationStatus.VALID,
                    outputs=tuple(r.outputs or ()),
                    reason=reason,
                )
            if retry:
                logger.warning("validate: %d sandbox errors (attempt %d)", len(retry), attempt + 1)
            todo = retry
        for i in todo:
            results[i] = Check(valid=False, reason="sandbox_error", judge_error=True)
        return [r for r in results if r is not None]

    async def verify(self, items: Sequence[tuple[Task, Sequence[str]]]) -> list[list[Verdict]]:
        out: list[list[Verdict | None]] = [[None] * len(a) for _, a in items]
        todo = [(i, j) for i, (_, answers) in enumerate(items) for j in range(len(answers))]
        for attempt in range(1 + self.retries):
            if not todo:
                break
            by_task: dict[int, list[int]] = {}
            for i, j in todo:
                by_task.setdefault(i, []).append(j)
            order = list(by_task.items())
            wire = [
                VerifyItem(
                    task=WireTask(
                        task_type=WireTaskType(items[i][0].task_type),
                        program=items[i][0].program,
                        inputs=list(items[i][0].inputs),
                        outputs=list(items[i][0].outputs),
                        message=items[i][0].message or None,
                    ),
                    answers=[items[i][1][j] for j in js],
                )
                for i, js in order
            ]
            responses = await asyncio.gather(
                *(self._verify(chunk) for chunk in _chunks(wire, CHUNK))
            )
            flat = [r for resp in responses for r in resp.results]
            retry = []
            for (i, js), result in zip(order, flat, strict=True):
                for j, v in zip(js, result.verdicts, strict=True):
                    if v.verdict is WireVerdict.SANDBOX_ERROR:
                        retry.append((i, j))
                    elif v.verdict is WireVerdict.CORRECT:
                        out[i][j] = Verdict.CORRECT
                    else:  # incorrect, or invalid content inside a well-formed answer
                        out[i][j] = Verdict.WRONG
            if retry:
                logger.warning("verify: %d sandbox errors (attempt %d)", len(retry), attempt + 1)
            todo = retry
        for i, j in todo:
            out[i][j] = Verdict.JUDGE_ERROR
        return [[v if v is not None else Verdict.JUDGE_ERROR for v in row] for row in out]
