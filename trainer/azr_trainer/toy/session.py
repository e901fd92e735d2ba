"""A judge for the toy world's synchronous code: the executor's AZR routes behind a portal.

    with judge_session(Path("runs/toy"), executor_url=None) as session:
        oracle = session.oracle()            # computes the grammar's outputs
        metrics = evaluate(..., session.judge, session.call)

With no `executor_url`, an executor is started locally (under `workdir`) for the duration of the
block. The connection itself is `azr_trainer.session`'s, as for a training run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azr_trainer.remote import ExecutorJudge
from azr_trainer.session import open_session
from azr_trainer.toy.oracle import JudgeOracle

__all__ = ["JudgeSession", "judge_session"]


@dataclass(frozen=True)
class JudgeSession:
    """A `TaskJudge` and the `call` that runs its coroutines from synchronous code."""

    judge: ExecutorJudge
    call: Any  # Session.call
    executor_url: str

    def oracle(self) -> JudgeOracle:
        """An `Oracle` for the task generator, computing through this judge."""
        return JudgeOracle(self.judge, self.call)


@contextmanager
def judge_session(
    workdir: Path, *, executor_url: str | None = None, concurrency: int = 16
) -> Iterator[JudgeSession]:
    """Yield a `JudgeSession` on `executor_url`, or on a locally started executor."""
    urls = [executor_url] if executor_url else []
    with open_session(workdir, executor_urls=urls, buffer=False) as s:
        yield JudgeSession(
            judge=s.judge(concurrency=concurrency), call=s.call, executor_url=s.url("executor")
        )
