"""`POST /v1/run` and `POST /v1/run/batch`: isolated runs of independent programs."""

from __future__ import annotations

import logging
import time

from azr_proto.executor import BatchRunRequest, BatchRunResponse, RunRequest, RunResult
from fastapi import APIRouter

from azr_executor.deps import MetricsDep, PoolDep, SettingsDep
from azr_executor.errors import RequestTooLarge
from azr_executor.runner import fit_response, job_from_request, to_wire
from azr_executor.sandbox.pool import status_counts

__all__ = ["router"]

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["run"])


@router.post("/run", response_model=RunResult)
async def run(
    req: RunRequest, pool: PoolDep, settings: SettingsDep, metrics: MetricsDep
) -> RunResult:
    """Run one program in a fresh sandbox and return its result."""
    t0 = time.perf_counter()
    result = await pool.run(job_from_request(req, settings))
    fit_response([result], settings.max_response_mb << 20)
    metrics.request_latency.labels(route="/v1/run").observe(time.perf_counter() - t0)
    logger.info("route=/v1/run code_bytes=%d status=%s queue_ms=%.1f wall_ms=%.1f",
                len(req.code), result.status, result.queue_ms, result.wall_ms)  # fmt: skip
    return to_wire(result)


@router.post("/run/batch", response_model=BatchRunResponse)
async def run_batch(
    req: BatchRunRequest, pool: PoolDep, settings: SettingsDep, metrics: MetricsDep
) -> BatchRunResponse:
    """Run many independent programs, each in its own fresh sandbox; results in order."""
    if len(req.runs) > settings.max_batch:
        raise RequestTooLarge(
            f"{len(req.runs)} runs in one batch; the limit is {settings.max_batch}"
        )
    t0 = time.perf_counter()
    jobs = [job_from_request(r, settings) for r in req.runs]
    results = await pool.run_many(jobs)
    fit_response(results, settings.max_response_mb << 20)
    metrics.request_latency.labels(route="/v1/run/batch").observe(time.perf_counter() - t0)
    counts = " ".join(f"{k}={v}" for k, v in status_counts(results).items())
    logger.info("route=/v1/run/batch n_runs=%d %s run_ms=%.1f", len(jobs), counts,
                (time.perf_counter() - t0) * 1000)  # fmt: skip
    return BatchRunResponse(results=[to_wire(r) for r in results])
