"""`POST /v1/tests`: one program checked against N cases, verdicts decided outside the sandbox."""

from __future__ import annotations

import logging
import time

from azr_proto.executor import TestsRequest, TestsResponse
from fastapi import APIRouter

from azr_executor.checking import run_tests
from azr_executor.deps import MetricsDep, PoolDep, SettingsDep
from azr_executor.errors import InvalidRequest, RequestTooLarge
from azr_executor.runner import resolve_limits

__all__ = ["router"]

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["tests"])


@router.post("/tests", response_model=TestsResponse)
async def tests(
    req: TestsRequest, pool: PoolDep, settings: SettingsDep, metrics: MetricsDep
) -> TestsResponse:
    """Check one program against call-based, assert-style and stdin/stdout cases."""
    if len(req.cases) > settings.max_batch:
        raise RequestTooLarge(
            f"{len(req.cases)} cases in one request; the limit is {settings.max_batch}"
        )
    if len(req.code.encode()) > settings.max_code_bytes:
        raise InvalidRequest(f"code is over {settings.max_code_bytes} bytes")
    t0 = time.perf_counter()
    answer = await run_tests(req, pool, resolve_limits(req.limits, settings))
    metrics.request_latency.labels(route="/v1/tests").observe(time.perf_counter() - t0)
    logger.info("route=/v1/tests n_cases=%d passed=%d stopped_early=%s run_ms=%.1f", answer.total,
                answer.passed, answer.stopped_early, (time.perf_counter() - t0) * 1000)  # fmt: skip
    return answer
