"""Blocking client of the executor, for scripts and for code that is not async (reward functions
of synchronous trainers): the async `ExecutorClient` driven from an event loop of its own.

    with SyncExecutorClient("http://127.0.0.1:8010", token="s3cret") as client:
        result = client.run(RunRequest(code="print(1 + 1)"))
        assert result.status == "ok" and result.stdout == "2\\n"

Same retries and errors as `ExecutorClient` (it is one). The loop runs in a daemon thread, so a
client that is never closed does not keep the interpreter from exiting; `close()` (or leaving
`with`) still closes its connections. Safe to call from several threads at once.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from azr_proto.azr import (
    LearnabilityRequest,
    LearnabilityResponse,
    ValidateRequest,
    ValidateResponse,
    VerifyRequest,
    VerifyResponse,
)
from azr_proto.executor import (
    BatchRunRequest,
    BatchRunResponse,
    RunRequest,
    RunResult,
    TestsRequest,
    TestsResponse,
)
from azr_proto.executor_client import ExecutorClient

__all__ = ["SyncExecutorClient"]

T = TypeVar("T")


class SyncExecutorClient:
    """Blocking twin of `ExecutorClient`; takes the same arguments."""

    def __init__(
        self,
        base_urls: str | Sequence[str],
        *,
        token: str | None = None,
        timeout_s: float = 120.0,
        max_retries: int = 4,
        backoff_s: float = 0.2,
        max_backoff_s: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="azr-executor-client", daemon=True
        )
        self._thread.start()
        self._closed = False

        async def make() -> ExecutorClient:  # built in its loop, where it will be used
            return ExecutorClient(base_urls, token=token, timeout_s=timeout_s,
                                  max_retries=max_retries, backoff_s=backoff_s,
                                  max_backoff_s=max_backoff_s, transport=transport)  # fmt: skip

        try:
            self.client = self._call(make())
        except BaseException:
            self._stop()
            raise

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._closed:
            coro.close()
            raise RuntimeError("the client is closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def run(self, req: RunRequest) -> RunResult:
        """`POST /v1/run`."""
        return self._call(self.client.run(req))

    def run_batch(self, req: BatchRunRequest | Sequence[RunRequest]) -> BatchRunResponse:
        """`POST /v1/run/batch`."""
        return self._call(self.client.run_batch(req))

    def tests(self, req: TestsRequest) -> TestsResponse:
        """`POST /v1/tests`."""
        return self._call(self.client.tests(req))

    def tests_many(
        self, reqs: Sequence[TestsRequest], *, max_concurrency: int = 32
    ) -> list[TestsResponse]:
        """`tests` for many programs at once; answers in order."""
        return self._call(self.client.tests_many(reqs, max_concurrency=max_concurrency))

    def azr_validate(self, req: ValidateRequest) -> ValidateResponse:
        """`POST /v1/azr/validate`."""
        return self._call(self.client.azr_validate(req))

    def azr_verify(self, req: VerifyRequest) -> VerifyResponse:
        """`POST /v1/azr/verify`."""
        return self._call(self.client.azr_verify(req))

    def azr_learnability(self, req: LearnabilityRequest) -> LearnabilityResponse:
        """`POST /v1/azr/learnability`."""
        return self._call(self.client.azr_learnability(req))

    def healthz(self) -> dict[str, Any]:
        """`GET /healthz`."""
        return self._call(self.client.healthz())

    def readyz(self) -> dict[str, Any]:
        """`GET /readyz`."""
        return self._call(self.client.readyz())

    def metrics(self) -> str:
        """`GET /metrics`, Prometheus text."""
        return self._call(self.client.metrics())

    def close(self) -> None:
        """Close the connections and stop the loop; idempotent."""
        if self._closed:
            return
        try:
            self._call(self.client.aclose())
        finally:
            self._stop()

    def _stop(self) -> None:
        self._closed = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
