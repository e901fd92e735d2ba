"""A judge for the toy world's synchronous code: the executor's AZR routes behind a portal.

    with judge_session(Path("runs/toy"), executor_url=None) as session:
        oracle = session.oracle()            # computes the grammar's outputs
        metrics = evaluate(..., session.judge, session.call)

With no `executor_url`, the executor and buffer services are started locally (under `workdir`)
for the duration of the block, as `azr run` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azr_trainer.remote import ExecutorJudge
from azr_trainer.toy.oracle import JudgeOracle

__all__ = ["JudgeSession", "judge_session"]


@dataclass(frozen=True)
class JudgeSession:
    """A `TaskJudge` and the `call` that runs its coroutines from synchronous code."""

    judge: ExecutorJudge
    call: Any  # BlockingPortal.call
    executor_url: str
    buffer_url: str = ""  # set when the session started the services itself

    def oracle(self) -> JudgeOracle:
        """An `Oracle` for the task generator, computing through this judge."""
        return JudgeOracle(self.judge, self.call)


@contextmanager
def judge_session(
    workdir: Path, *, executor_url: str | None = None, concurrency: int = 16
) -> Iterator[JudgeSession]:
    """Yield a `JudgeSession` on `executor_url`, or on locally started services."""
    from anyio.from_thread import start_blocking_portal
    from azr_proto.executor_client import ExecutorClient

    with ExitStack() as stack:
        buffer_url = ""
        if executor_url is None:
            from azr_trainer.services import local_services

            services = stack.enter_context(local_services(workdir))
            executor_url, buffer_url = services.executor_url, services.buffer_url
        portal = stack.enter_context(start_blocking_portal())

        async def make() -> tuple[ExecutorClient, ExecutorJudge]:
            client = ExecutorClient(executor_url)
            return client, ExecutorJudge(client, concurrency=concurrency)

        client, judge = portal.call(make)
        stack.callback(portal.call, client.aclose)
        yield JudgeSession(
            judge=judge, call=portal.call, executor_url=executor_url, buffer_url=buffer_url
        )
