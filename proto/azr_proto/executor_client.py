"""Async client of the executor service: one method per endpoint, with bounded retries.

    async with ExecutorClient(["http://exec-a:8010", "http://exec-b:8010"], token="...") as client:
        result = await client.run(RunRequest(code="print(1 + 1)"))
        assert result.status == "ok" and result.stdout == "2\\n"

Retries (at most `max_retries` times, exponential backoff with jitter, capped at `max_backoff_s`):
- 429 (the service queue or this token's quota is full), after `Retry-After`;
- transport failures (connection refused or reset, timeouts);
- runs that ended in `sandbox_error` (an infrastructure fault): only those runs are sent again.
When retries run out the last error propagates as a `ProtoError`; a `sandbox_error` result is
returned as such, never turned into a program failure. Requests go round-robin over the base URLs,
and a retry moves to the next one.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Sequence
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from azr_proto.azr import (
    LearnabilityRequest,
    LearnabilityResponse,
    ValidateRequest,
    ValidateResponse,
    ValidationResult,
    ValidationStatus,
    Verdict,
    VerifyRequest,
    VerifyResponse,
)
from azr_proto.errors import Overloaded, ProtoError, TransportError, raise_for_proto_status
from azr_proto.executor import (
    BatchRunRequest,
    BatchRunResponse,
    RunRequest,
    RunResult,
    TestsRequest,
    TestsResponse,
)
from azr_proto.http_client import ServiceClient
from azr_proto.statuses import RunStatus

__all__ = ["ExecutorClient"]

M = TypeVar("M", bound=BaseModel)


class ExecutorClient(ServiceClient):
    """Async client of one or several executor replicas (round-robin)."""

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
        urls = [base_urls] if isinstance(base_urls, str) else list(base_urls)
        if not urls:
            raise ValueError("ExecutorClient needs at least one base URL")
        self.base_urls = [u.rstrip("/") for u in urls]
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        super().__init__(token=token, timeout_s=timeout_s, transport=transport)
        self._next_url = itertools.cycle(range(len(self.base_urls)))

    # ---- endpoints

    async def run(self, req: RunRequest) -> RunResult:
        """`POST /v1/run`; a `sandbox_error` result is retried."""
        result = RunResult(status=RunStatus.SANDBOX_ERROR, stdout="", stderr="", truncated=False,
                           wall_ms=0, cpu_ms=0, peak_rss_kb=0, queue_ms=0)  # fmt: skip
        for attempt in range(self.max_retries + 1):
            result = await self._post("/v1/run", req, RunResult)
            if result.status is not RunStatus.SANDBOX_ERROR:
                return result
            await self._sleep(attempt, None)
        return result

    async def run_batch(self, req: BatchRunRequest | Sequence[RunRequest]) -> BatchRunResponse:
        """`POST /v1/run/batch`; runs that end in `sandbox_error` are sent again (only those)."""
        batch = req if isinstance(req, BatchRunRequest) else BatchRunRequest(runs=list(req))
        results: list[RunResult | None] = [None] * len(batch.runs)
        todo = list(range(len(batch.runs)))
        for attempt in range(self.max_retries + 1):
            sub = BatchRunRequest(runs=[batch.runs[i] for i in todo])
            answer = await self._post("/v1/run/batch", sub, BatchRunResponse)
            if len(answer.results) != len(todo):
                raise ProtoError(f"batch of {len(todo)} runs answered with {len(answer.results)}")
            for i, res in zip(todo, answer.results, strict=True):
                results[i] = res
            todo = [i for i in todo if results[i].status is RunStatus.SANDBOX_ERROR]  # type: ignore[union-attr]
            if not todo or attempt == self.max_retries:
                break
            await self._sleep(attempt, None)
        return BatchRunResponse(results=[r for r in results if r is not None])

    async def tests(self, req: TestsRequest) -> TestsResponse:
        """`POST /v1/tests`; the request is sent again when a case ended in `sandbox_error`."""
        answer = await self._post("/v1/tests", req, TestsResponse)
        for attempt in range(self.max_retries):
            if not any(r.status is RunStatus.SANDBOX_ERROR for r in answer.results):
                break
            await self._sleep(attempt, None)
            answer = await self._post("/v1/tests", req, TestsResponse)
        return answer

    async def tests_many(
        self, reqs: Sequence[TestsRequest], *, max_concurrency: int = 32
    ) -> list[TestsResponse]:
        """`tests` for many programs at once, at most `max_concurrency` requests in flight;
        answers in order. (One `/v1/tests` request checks one program against all its cases.)"""
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        gate = asyncio.Semaphore(max_concurrency)

        async def one(req: TestsRequest) -> TestsResponse:
            async with gate:
                return await self.tests(req)

        return list(await asyncio.gather(*(one(r) for r in reqs)))

    # ---- AZR semantics (`/v1/azr/*`): program outcomes are data; only sandbox errors are retried

    async def azr_validate(self, req: ValidateRequest) -> ValidateResponse:
        """`POST /v1/azr/validate`; proposals that met a `sandbox_error` are sent again."""
        results: list[ValidationResult | None] = [None] * len(req.proposals)
        todo = list(range(len(req.proposals)))
        for attempt in range(self.max_retries + 1):
            sub = ValidateRequest(proposals=[req.proposals[i] for i in todo], options=req.options)
            answer = await self._post("/v1/azr/validate", sub, ValidateResponse)
            if len(answer.results) != len(todo):
                raise ProtoError(f"{len(todo)} proposals answered with {len(answer.results)}")
            for i, res in zip(todo, answer.results, strict=True):
                results[i] = res
            todo = [i for i in todo if results[i].status is ValidationStatus.SANDBOX_ERROR]  # type: ignore[union-attr]
            if not todo or attempt == self.max_retries:
                break
            await self._sleep(attempt, None)
        return ValidateResponse(results=[r for r in results if r is not None])

    async def azr_verify(self, req: VerifyRequest) -> VerifyResponse:
        """`POST /v1/azr/verify`; items with a `sandbox_error` verdict are sent again."""
        items = await self._azr_items("/v1/azr/verify", req, VerifyResponse)
        return VerifyResponse(results=items)

    async def azr_learnability(self, req: LearnabilityRequest) -> LearnabilityResponse:
        """`POST /v1/azr/learnability`; items with a `sandbox_error` verdict are sent again."""
        items = await self._azr_items("/v1/azr/learnability", req, LearnabilityResponse)
        return LearnabilityResponse(results=items)

    async def _azr_items(self, path: str, req: Any, model: type[Any]) -> list[Any]:
        results: list[Any] = [None] * len(req.items)
        todo = list(range(len(req.items)))
        for attempt in range(self.max_retries + 1):
            sub = req.model_copy(update={"items": [req.items[i] for i in todo]})
            answer = await self._post(path, sub, model)
            if len(answer.results) != len(todo):
                raise ProtoError(f"{len(todo)} items answered with {len(answer.results)}")
            for i, res in zip(todo, answer.results, strict=True):
                results[i] = res
            todo = [
                i
                for i in todo
                if any(v.verdict is Verdict.SANDBOX_ERROR for v in results[i].verdicts)
            ]
            if not todo or attempt == self.max_retries:
                break
            await self._sleep(attempt, None)
        return results

    async def healthz(self) -> dict[str, Any]:
        """`GET /healthz` of the next replica."""
        resp = await self._request("GET", "/healthz", None)
        body: dict[str, Any] = resp.json()
        return body

    async def readyz(self) -> dict[str, Any]:
        """`GET /readyz` of the next replica (raises `ServerFault` on 503)."""
        resp = await self._request("GET", "/readyz", None)
        body: dict[str, Any] = resp.json()
        return body

    async def metrics(self) -> str:
        """`GET /metrics` of the next replica, in the Prometheus text format."""
        return (await self._request("GET", "/metrics", None)).text

    # ---- plumbing (also used by endpoint methods added elsewhere, e.g. the AZR ones)

    async def _post(self, path: str, body: BaseModel, model: type[M]) -> M:
        resp = await self._request("POST", path, body.model_dump(mode="json", exclude_none=True))
        try:
            return model.model_validate_json(resp.content)
        except ValueError as exc:
            raise ProtoError(f"invalid answer from {path}: {exc}") from exc

    async def _request(self, method: str, path: str, json_body: Any) -> httpx.Response:
        """Send with retries on 429 and transport failures; raise the typed `ProtoError`."""
        for attempt in range(self.max_retries + 1):
            url = self.base_urls[next(self._next_url)] + path
            try:
                resp = await self._http.request(method, url, json=json_body)
            except httpx.HTTPError as exc:
                if attempt == self.max_retries:
                    raise TransportError(f"{method} {url}: {exc!r}") from exc
                await self._sleep(attempt, None)
                continue
            try:
                raise_for_proto_status(resp)
            except Overloaded as exc:
                if attempt == self.max_retries:
                    raise
                await self._sleep(attempt, exc.retry_after_s)
                continue
            return resp
        raise AssertionError("unreachable")  # pragma: no cover

    async def _sleep(self, attempt: int, retry_after_s: float | None) -> None:
        delay = min(self.max_backoff_s, self.backoff_s * 2**attempt)
        if retry_after_s is not None:
            delay = min(self.max_backoff_s, max(delay, retry_after_s))
        await asyncio.sleep(delay * (0.5 + random.random() / 2))
