"""The `/v1/azr/*` routes: batch validation, verification and learnability scoring."""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any

from azr_proto.azr import (
    LearnabilityRequest,
    LearnabilityResponse,
    ValidateRequest,
    ValidateResponse,
    VerifyRequest,
    VerifyResponse,
    VerifyResult,
)
from azr_proto.common import ErrorBody
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from azr_executor.azr.jobs import JobRunner
from azr_executor.azr.learnability import score_learnability
from azr_executor.azr.pool_runner import PoolRunner
from azr_executor.azr.validate import validate_proposals
from azr_executor.azr.verify import BadTask, verify_items

__all__ = ["get_runner", "router"]

logger = logging.getLogger(__name__)


def get_runner(request: Request) -> JobRunner:
    """The app's sandbox pool (started by the lifespan) seen as a harness runner."""
    return PoolRunner(request.app.state.pool)


RunnerDep = Annotated[JobRunner, Depends(get_runner)]
_BAD_TASK: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorBody, "description": "a task is unusable (`bad_task`)"}
}

router = APIRouter(prefix="/v1/azr", tags=["azr"])


@router.post("/validate", response_model=ValidateResponse)
async def validate(body: ValidateRequest, runner: RunnerDep) -> ValidateResponse:
    """Validate proposals: static checks, then two sandbox jobs per program."""
    start = time.perf_counter()
    results = await validate_proposals(runner, body.proposals, body.options)
    valid = sum(r.valid for r in results)
    logger.info("azr_validate n=%d valid=%d ms=%.0f", len(results), valid, _ms(start))
    return ValidateResponse(results=results)


@router.post("/verify", response_model=VerifyResponse, responses=_BAD_TASK)
async def verify(body: VerifyRequest, runner: RunnerDep) -> VerifyResponse | JSONResponse:
    """Grade solver answers against tasks: one verdict per answer."""
    start = time.perf_counter()
    try:
        graded = await verify_items(runner, body.items, body.options)
    except BadTask as exc:
        return _bad_task(exc)
    n_answers = sum(len(v) for v in graded)
    logger.info("azr_verify n_tasks=%d n_answers=%d ms=%.0f", len(graded), n_answers, _ms(start))
    return VerifyResponse(results=[VerifyResult(verdicts=v) for v in graded])


@router.post("/learnability", response_model=LearnabilityResponse, responses=_BAD_TASK)
async def learnability(
    body: LearnabilityRequest, runner: RunnerDep
) -> LearnabilityResponse | JSONResponse:
    """Grade K answers per task; return each task's solve rate and learnability reward."""
    start = time.perf_counter()
    try:
        results = await score_learnability(runner, body.items, body.options)
    except BadTask as exc:
        return _bad_task(exc)
    logger.info("azr_learnability n_tasks=%d ms=%.0f", len(results), _ms(start))
    return LearnabilityResponse(results=results)


def _bad_task(exc: BadTask) -> JSONResponse:
    return JSONResponse({"code": "bad_task", "detail": str(exc)}, status_code=422)


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000
