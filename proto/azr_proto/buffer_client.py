"""Async client of the buffer service, with retries on 429, 5xx and transport errors.

    async with BufferClient("http://127.0.0.1:8020", token="...") as buffer:
        await buffer.create_run(RunCreate(name="run-1", capacity=16384))
        added = await buffer.insert_tasks("run-1", [TaskIn(type=TaskType.DEDUCTION, ...)])
        refs = await buffer.sample("run-1", SampleRequest(type=TaskType.DEDUCTION, k=6))

Retries: inserts are idempotent (content hashes), reads are safe, so both retry on any transport
error. `record_outcomes` adds to counters, so after the request may have reached the service it
is not retried (only on connection failures, 429 and 503, where nothing was applied).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import httpx

from azr_proto.buffer import (
    RUN_NAME_PATTERN,
    InsertResponse,
    OutcomeRecord,
    OutcomesRequest,
    OutcomesResponse,
    Run,
    RunCreate,
    RunStats,
    SampleRequest,
    Task,
    TaskIn,
    TaskInsertRequest,
    TruncateRequest,
    TruncateResponse,
)
from azr_proto.buffer_export import (
    ExportEnd,
    ExportHeader,
    ExportTally,
    ImportResponse,
    line_kind,
)
from azr_proto.common import Health
from azr_proto.errors import (
    BadRequest,
    Overloaded,
    ServerFault,
    ServiceError,
    TransportError,
    raise_for_proto_status,
)
from azr_proto.http_client import ServiceClient

__all__ = ["BufferClient", "IncompleteExport"]


class IncompleteExport(TransportError):
    """An export stream ended without its end line, or lost lines: not a whole checkpoint."""


class BufferClient(ServiceClient):
    """Async client of one buffer service. Use as an async context manager, or call `aclose()`."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout_s: float = 30.0,
        retries: int = 4,
        backoff_s: float = 0.2,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(base_url=base_url, token=token, timeout_s=timeout_s, transport=transport)
        self.retries = retries
        self.backoff_s = backoff_s

    # -- runs -----------------------------------------------------------------------------------

    async def create_run(self, run: RunCreate, *, exist_ok: bool = False) -> Run:
        """Create a run. With `exist_ok`, an existing run of that name is returned instead of
        raising `BadRequest` (409)."""
        try:
            resp = await self._request("POST", "/v1/runs", json=run.model_dump(mode="json"))
        except BadRequest as exc:
            if exc.status_code == 409 and exist_ok:
                return await self.get_run(run.name)
            raise
        return Run.model_validate_json(resp.content)

    async def get_run(self, name: str) -> Run:
        resp = await self._request("GET", _run_path(name))
        return Run.model_validate_json(resp.content)

    async def list_runs(self) -> list[Run]:
        resp = await self._request("GET", "/v1/runs")
        return [Run.model_validate(r) for r in resp.json()]

    async def delete_run(self, name: str) -> None:
        await self._request("DELETE", _run_path(name))

    # -- tasks ----------------------------------------------------------------------------------

    async def insert_tasks(self, run: str, tasks: Iterable[TaskIn]) -> InsertResponse:
        """Insert a batch (at most 4096 tasks), all or nothing; safe to retry."""
        body = TaskInsertRequest(tasks=list(tasks)).model_dump(mode="json")
        resp = await self._request("POST", _run_path(run) + "/tasks", json=body)
        return InsertResponse.model_validate_json(resp.content)

    async def get_task(self, run: str, task_id: int) -> Task:
        resp = await self._request("GET", _run_path(run) + f"/tasks/{int(task_id)}")
        return Task.model_validate_json(resp.content)

    async def sample(self, run: str, req: SampleRequest) -> list[Task]:
        """Up to `req.k` distinct tasks (fewer when the pool holds fewer), in random order."""
        resp = await self._request(
            "POST", _run_path(run) + "/sample", json=req.model_dump(mode="json")
        )
        return [Task.model_validate(t) for t in resp.json()["tasks"]]

    async def record_outcomes(
        self, run: str, outcomes: Iterable[OutcomeRecord]
    ) -> OutcomesResponse:
        """Add solve attempts to the tasks' running counts (not retried once sent: see module)."""
        body = OutcomesRequest(outcomes=list(outcomes)).model_dump(mode="json")
        resp = await self._request(
            "POST", _run_path(run) + "/outcomes", json=body, idempotent=False
        )
        return OutcomesResponse.model_validate_json(resp.content)

    async def stats(self, run: str) -> RunStats:
        resp = await self._request("GET", _run_path(run) + "/stats")
        return RunStats.model_validate_json(resp.content)

    async def truncate(self, run: str, step: int) -> TruncateResponse:
        """Keep only the tasks added at or before `step`."""
        body = TruncateRequest(step=step).model_dump(mode="json")
        resp = await self._request("POST", _run_path(run) + "/truncate", json=body)
        return TruncateResponse.model_validate_json(resp.content)

    # -- export / import ------------------------------------------------------------------------

    async def export_run(self, run: str) -> AsyncIterator[bytes]:
        """The run's export (JSON Lines, `azr_proto.buffer_export`), streamed one line (with its
        newline) at a time, the header and end lines included: the lines joined are an import.

        Raises `IncompleteExport` at the end of a stream that lacks the end line or lost lines,
        so a cut export never passes for a whole checkpoint. (A format-1 export, from a service
        older than the end line, cannot be checked.) A 429 (the service streams as many exports
        as it allows) or a 5xx is retried like any read, before the first line.
        """
        tally = ExportTally()
        try:
            async with self._stream(_run_path(run) + "/export") as resp:
                rest = b""
                # Split on b"\n" only: lines hold U+2028, U+0085... unescaped, which
                # str.splitlines (httpx's aiter_lines) would take for line ends.
                async for chunk in resp.aiter_bytes():
                    *lines, rest = (rest + chunk).split(b"\n")
                    for line in lines:
                        if line.strip():
                            _follow(tally, line, run)
                            yield line + b"\n"
                if rest.strip():
                    _follow(tally, rest, run)
                    yield rest + b"\n"
        except httpx.TransportError as exc:
            raise TransportError(f"export of {run!r} broke: {exc}") from exc
        try:
            tally.finish()
        except ValueError as exc:
            raise IncompleteExport(f"export of {run!r}: {exc}") from None

    async def import_run(self, run: str, lines: bytes | AsyncIterator[bytes]) -> ImportResponse:
        """Import JSON Lines into the existing run `run`, all or nothing; safe to retry (tasks
        already there count as duplicates). A streamed body is sent once, without retries."""
        if isinstance(lines, bytes):
            resp = await self._request("POST", _run_path(run) + "/import", content=lines)
        else:
            resp = await self._request(
                "POST", _run_path(run) + "/import", content=lines, idempotent=False, retries=0
            )
        return ImportResponse.model_validate_json(resp.content)

    # -- health ---------------------------------------------------------------------------------

    async def healthz(self) -> Health:
        resp = await self._request("GET", "/healthz")
        return Health.model_validate_json(resp.content)

    async def readyz(self) -> Health:
        resp = await self._request("GET", "/readyz")
        return Health.model_validate_json(resp.content)

    # -- plumbing -------------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        url: str,
        *,
        idempotent: bool = True,
        retries: int | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        attempts = 1 + (self.retries if retries is None else retries)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                resp = await self._http.request(method, url, **kwargs)
                raise_for_proto_status(resp)
                return resp
            except Overloaded as exc:
                if last:
                    raise
                await asyncio.sleep(max(exc.retry_after_s, self._delay(attempt)))
            except ServerFault as exc:
                # 503: nothing was applied (the transaction rolled back); any other 5xx may have
                # been applied, so only idempotent calls retry it.
                if last or (not idempotent and exc.status_code != 503):
                    raise
                await asyncio.sleep(self._delay(attempt))
            except ServiceError:
                raise
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if last:
                    raise TransportError(f"{method} {url}: {exc}") from exc
                await asyncio.sleep(self._delay(attempt))
            except httpx.TransportError as exc:
                if last or not idempotent:
                    raise TransportError(f"{method} {url}: {exc}") from exc
                await asyncio.sleep(self._delay(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    @asynccontextmanager
    async def _stream(self, url: str) -> AsyncIterator[httpx.Response]:
        """GET `url` as a stream, once its status is a success (429 and 5xx are retried)."""
        for attempt in range(1 + self.retries):
            async with self._http.stream("GET", url) as resp:
                if resp.status_code < 400:
                    yield resp
                    return
                await resp.aread()
            try:
                raise_for_proto_status(resp)
            except Overloaded as exc:
                if attempt == self.retries:
                    raise
                await asyncio.sleep(max(exc.retry_after_s, self._delay(attempt)))
            except ServerFault:
                if attempt == self.retries:
                    raise
                await asyncio.sleep(self._delay(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def _delay(self, attempt: int) -> float:
        return float(self.backoff_s * 2**attempt)


def _run_path(run: str) -> str:
    """`/v1/runs/<run>`; ValueError for a name the service could not hold. Checked here because
    the name goes into the URL: `"run-1#old"` or `"x/../run-1"` would address the run `run-1`."""
    if not isinstance(run, str) or not re.fullmatch(RUN_NAME_PATTERN, run):
        raise ValueError(f"invalid run name {run!r}: it must match {RUN_NAME_PATTERN}")
    return f"/v1/runs/{run}"


def _follow(tally: ExportTally, line: bytes, run: str) -> None:
    """Count one line of an export; `IncompleteExport` where the stream is not a whole export."""
    kind = line_kind(line)
    try:
        if tally.format is None and kind != "run":
            raise ValueError("the stream does not start with an export header")
        if kind == "task":
            tally.task()
        elif kind == "run":
            tally.header(ExportHeader.model_validate_json(line))
        else:
            tally.end(ExportEnd.model_validate_json(line))
    except ValueError as exc:  # pydantic's ValidationError included
        raise IncompleteExport(f"export of {run!r}: {exc}") from None
