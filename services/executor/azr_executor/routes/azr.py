"""`POST /v1/azr/{validate,verify,learnability}`: batch validation, verification and
learnability scoring (the logic is `azr/`)."""

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

from azr_executor.azr.jobs import JobRunner
from azr_executor.azr.learnability import score_learnability
from azr_executor.azr.pool_runner import PoolRunner
from azr_executor.azr.validate import validate_proposals
from azr_executor.azr.verify import verify_items
from azr_executor.deps import SettingsDep
from azr_executor.runner import check_azr_options

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
async def validate(
    body: ValidateRequest, runner: RunnerDep, settings: SettingsDep
) -> ValidateResponse:
    """Validate proposals: static checks, then two sandbox jobs per program."""
    check_azr_options(body.options, settings)
    start = time.perf_counter()
    results = await validate_proposals(runner, body.proposals, body.options)
    valid = sum(r.valid for r in results)
    logger.info("azr_validate n=%d valid=%d ms=%.0f", len(results), valid, _ms(start))
    return ValidateResponse(results=results)


@router.post("/verify", response_model=VerifyResponse, responses=_BAD_TASK)
async def verify(body: VerifyRequest, runner: RunnerDep, settings: SettingsDep) -> VerifyResponse:
    """Grade solver answers against tasks: one verdict per answer."""
    check_azr_options(body.options, settings)
    start = time.perf_counter()
    graded = await verify_items(runner, body.items, body.options)
    n_answers = sum(len(v) for v in graded)
    logger.info("azr_verify n_tasks=%d n_answers=%d ms=%.0f", len(graded), n_answers, _ms(start))
    return VerifyResponse(results=[VerifyResult(verdicts=v) for v in graded])


@router.post("/learnability", response_model=LearnabilityResponse, responses=_BAD_TASK)
async def learnability(
    body: LearnabilityRequest, runner: RunnerDep, settings: SettingsDep
) -> LearnabilityResponse:
    """Grade K answers per task; return each task's solve rate and learnability reward."""
    check_azr_options(body.options, settings)
    start = time.perf_counter()
    results = await score_learnability(runner, body.items, body.options)
    logger.info("azr_learnability n_tasks=%d ms=%.0f", len(results), _ms(start))
    return LearnabilityResponse(results=results)


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000
