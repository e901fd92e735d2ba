"""The /v1 routes. Plain `def` handlers (run in the threadpool), one session per request; the
logic lives in `repo`, `sampling` and `transfer`."""

from __future__ import annotations

import itertools
import random
import tempfile
import threading
from collections.abc import Generator
from typing import Annotated

import anyio
from azr_proto.buffer import (
    InsertResponse,
    OutcomesRequest,
    OutcomesResponse,
    Run,
    RunCreate,
    RunStats,
    SampleRequest,
    SampleResponse,
    TaskInsertRequest,
    TruncateRequest,
    TruncateResponse,
)
from azr_proto.buffer_export import ImportResponse
from azr_proto.common import ErrorBody
from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from azr_buffer import repo, transfer
from azr_buffer.asgi import Metrics
from azr_buffer.db import Database
from azr_buffer.errors import Busy
from azr_buffer.sampling import render_tasks, sample_rows
from azr_buffer.spool import SpoolBudget

__all__ = ["IMPORT_PATH_PATTERN", "router"]

IMPORT_PATH_PATTERN = r"/v1/runs/[^/]+/import"
_SPOOL_IN_MEMORY = 16 * 1024 * 1024
# Reservoir choices and samples need no reproducibility, but must not be predictable across
# processes that share a database: seed each process from the OS.
_rng = random.SystemRandom()


def get_db(request: Request) -> Database:
    return request.app.state.db  # type: ignore[no-any-return]


def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics  # type: ignore[no-any-return]


DbDep = Annotated[Database, Depends(get_db)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
RunName = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]

_ERRORS: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorBody, "description": "unknown run"},
    413: {"model": ErrorBody, "description": "request body over the size limit"},
    422: {"model": ErrorBody, "description": "malformed request"},
}
router = APIRouter(prefix="/v1", responses=_ERRORS)


@router.post("/runs", status_code=201, responses={409: {"model": ErrorBody}})
def create_run(body: RunCreate, db: DbDep) -> Run:
    """Create a run (a namespace for one training run's tasks)."""
    with db.write_session() as session:
        return repo.to_run(repo.create_run(session=session, req=body))


@router.get("/runs")
def list_runs(db: DbDep) -> list[Run]:
    """All runs, oldest first."""
    with db.read_session() as session:
        return [repo.to_run(r) for r in repo.list_runs(session=session)]


@router.get("/runs/{run}")
def get_run(run: RunName, db: DbDep) -> Run:
    """One run."""
    with db.read_session() as session:
        return repo.to_run(repo.get_run(session=session, name=run))


@router.delete("/runs/{run}", status_code=204)
def delete_run(run: RunName, db: DbDep) -> Response:
    """Delete a run and all its tasks."""
    with db.write_session() as session:
        repo.delete_run(session=session, name=run)
    return Response(status_code=204)


@router.post("/runs/{run}/tasks")
def insert_tasks(
    run: RunName, body: TaskInsertRequest, db: DbDep, metrics: MetricsDep
) -> InsertResponse:
    """Insert a batch of tasks, all or nothing. Retrying a batch is safe: stored tasks come back
    as duplicates with their ids."""
    with db.write_session() as session:
        row = repo.get_run(session=session, name=run, lock="shared")
        result = repo.insert_tasks(session=session, run=row, tasks=body.tasks, rng=_rng)
    metrics.tasks.labels("inserted").inc(len(result.inserted))
    metrics.tasks.labels("duplicate").inc(len(result.duplicates))
    metrics.tasks.labels("discarded").inc(len(result.discarded))
    return result


@router.get("/runs/{run}/tasks/{task_id}", responses={404: {"model": ErrorBody}})
def get_task(
    run: RunName, task_id: Annotated[int, Path(ge=1, le=2**63 - 1)], db: DbDep
) -> Response:
    """One task by id."""
    with db.read_session() as session:
        row = repo.get_task(
            session=session, run=repo.get_run(session=session, name=run), task_id=task_id
        )
        if row is None:
            return Response(
                content=f'{{"code":"task_not_found","detail":"no task {task_id} in run {run}"}}',
                status_code=404,
                media_type="application/json",
            )
        return Response(repo.to_task(row).model_dump_json(), media_type="application/json")


@router.post("/runs/{run}/sample", response_model=SampleResponse)
def sample(run: RunName, body: SampleRequest, request: Request) -> Response:
    """Sample up to k distinct tasks of one type (see `SampleStrategy`)."""
    # The hot path: no ORM session, no dependency injection, JSON written from the rows.
    db: Database = request.app.state.db
    with db.raw_read() as cursor:
        rows = sample_rows(cursor=cursor, sql=db.sample_sql, run=run, req=body, rng=_rng)
    request.app.state.metrics.sampled.inc(len(rows))
    return Response(render_tasks(rows), media_type="application/json")


@router.post("/runs/{run}/outcomes")
def record_outcomes(run: RunName, body: OutcomesRequest, db: DbDep) -> OutcomesResponse:
    """Add solve attempts to the running solve counts of tasks."""
    with db.write_session() as session:
        row = repo.get_run(session=session, name=run, lock="shared")
        return repo.record_outcomes(session=session, run=row, outcomes=body.outcomes)


@router.get("/runs/{run}/stats")
def stats(run: RunName, db: DbDep) -> RunStats:
    """Counts per type and per step, distinct programs, solve totals."""
    with db.read_session() as session:
        return repo.run_stats(session=session, run=repo.get_run(session=session, name=run))


@router.post("/runs/{run}/truncate")
def truncate(run: RunName, body: TruncateRequest, db: DbDep) -> TruncateResponse:
    """Keep only the tasks added at or before `step` (resume from a checkpoint)."""
    with db.write_session() as session:
        row = repo.get_run(session=session, name=run, lock="exclusive")
        return repo.truncate_run(session=session, run=row, step=body.step)


@router.get(
    "/runs/{run}/export",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/x-ndjson": {}}, "description": "JSON Lines"},
        429: {"model": ErrorBody, "description": "exports streaming at once at the bound; retry"},
    },
)
def export_run(run: RunName, request: Request, db: DbDep) -> StreamingResponse:
    """Stream the run as JSON Lines: a header line, one line per task, and an end line with the
    task count (`azr_proto.buffer_export`), all from one snapshot of the database. 429 when
    AZR_BUFFER_MAX_EXPORTS exports are streaming already."""
    slots: threading.BoundedSemaphore = request.app.state.exports
    if not slots.acquire(blocking=False):
        raise Busy(
            "as many exports are streaming as AZR_BUFFER_MAX_EXPORTS (or AZR_BUFFER_POOL_SIZE) "
            "allows; retry later"
        )
    lines = transfer.export_lines(db, run, done=slots.release)
    header = next(lines)  # opens the snapshot; 404 before the response starts
    return _Export(header, lines)


class _Export(StreamingResponse):
    """An export's response. It closes the export's generator when it ends, however it ends (a
    client that went away included): the snapshot and the export's place are given back at once,
    not whenever the garbage collector gets to them."""

    def __init__(self, header: bytes, lines: Generator[bytes]) -> None:
        super().__init__(itertools.chain([header], lines), media_type="application/x-ndjson")
        self.lines = lines

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):  # no thread is in next(): run_sync waits for it
                await anyio.to_thread.run_sync(self.lines.close)


@router.post(
    "/runs/{run}/import",
    responses={429: {"model": ErrorBody, "description": "import spool bound reached; retry"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
        }
    },
)
async def import_run(run: RunName, request: Request, db: DbDep) -> ImportResponse:
    """Import JSON Lines (an export) into an existing run, all or nothing (422 names the first
    bad line). The body is spooled to a temporary file, then inserted in one transaction; 429
    when the imports spooled at once would pass AZR_BUFFER_MAX_IMPORT_SPOOL_BYTES."""
    budget: SpoolBudget = request.app.state.spool
    with budget.lease() as lease, tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:
        length = request.headers.get("content-length", "")
        if length.isdigit():  # refuse before reading a byte (BodySizeLimit checked its size)
            lease.cover(int(length))
        seen = 0
        async for chunk in request.stream():
            seen += len(chunk)
            lease.cover(seen)
            spool.write(chunk)
        spool.seek(0)
        # Parsing and the database work run in a worker thread: the event loop never blocks.
        max_body = request.app.state.settings.max_body_bytes
        return await anyio.to_thread.run_sync(transfer.import_lines, db, run, spool, _rng, max_body)
