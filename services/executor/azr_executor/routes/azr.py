"""`POST /v1/azr/{validate,verify,learnability}`: batch validation, verification and
learnability scoring (the logic is `azr/`).

Responses are held to `MAX_RESPONSE_MB`, like a run's: a validation whose outputs could go over
it (inputs x `max_output_chars`, at the 4 bytes of UTF-8 a character may take) is refused up
front with a 413 (split the batch, or lower `max_output_chars`); verdict messages, which are
informational, are shortened to what the batch's answers can share of it (413 only when even a
short message each would not fit). Why: a 25 KB request of programs returning 100,000-character
outputs made a 179 MB response and grew the service by 700 MB.
"""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any

from azr_proto.azr import (
    AnswerVerdict,
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
from azr_executor.errors import RequestTooLarge
from azr_executor.runner import check_azr_options
from azr_executor.settings import ExecutorSettings

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
    outputs = sum(len(p.inputs) for p in body.proposals)
    worst = outputs * (_BYTES_PER_CHAR * body.options.max_output_chars + 8)
    worst += len(body.proposals) * _BYTES_PER_CHAR * _MESSAGE_CHARS
    if worst > _budget(settings):
        raise RequestTooLarge(
            f"{outputs} outputs of up to {body.options.max_output_chars} characters could make "
            f"a response over this service's {settings.max_response_mb} MB "
            "(AZR_EXECUTOR_MAX_RESPONSE_MB): split the batch or lower options.max_output_chars"
        )
    start = time.perf_counter()
    results = await validate_proposals(runner, body.proposals, body.options)
    valid = sum(r.valid for r in results)
    logger.info("azr_validate n=%d valid=%d ms=%.0f", len(results), valid, _ms(start))
    return ValidateResponse(results=results)


@router.post("/verify", response_model=VerifyResponse, responses=_BAD_TASK)
async def verify(body: VerifyRequest, runner: RunnerDep, settings: SettingsDep) -> VerifyResponse:
    """Grade solver answers against tasks: one verdict per answer."""
    check_azr_options(body.options, settings)
    cap = _message_cap(sum(len(item.answers) for item in body.items), settings)
    start = time.perf_counter()
    graded = await verify_items(runner, body.items, body.options)
    graded = [[_shortened(v, cap) for v in verdicts] for verdicts in graded]
    n_answers = sum(len(v) for v in graded)
    logger.info("azr_verify n_tasks=%d n_answers=%d ms=%.0f", len(graded), n_answers, _ms(start))
    return VerifyResponse(results=[VerifyResult(verdicts=v) for v in graded])


@router.post("/learnability", response_model=LearnabilityResponse, responses=_BAD_TASK)
async def learnability(
    body: LearnabilityRequest, runner: RunnerDep, settings: SettingsDep
) -> LearnabilityResponse:
    """Grade K answers per task; return each task's solve rate and learnability reward."""
    check_azr_options(body.options, settings)
    cap = _message_cap(sum(len(item.answers) for item in body.items), settings)
    start = time.perf_counter()
    results = await score_learnability(runner, body.items, body.options)
    for result in results:
        result.verdicts = [_shortened(v, cap) for v in result.verdicts]
    logger.info("azr_learnability n_tasks=%d ms=%.0f", len(results), _ms(start))
    return LearnabilityResponse(results=results)


_BYTES_PER_CHAR = 4  # UTF-8 of one character, at most
_MESSAGE_CHARS = 1300  # the longest message a verdict or a validation result carries
_MIN_MESSAGE_CHARS = 80
_VERDICT_BYTES = 120  # a verdict's JSON without its message


def _budget(settings: ExecutorSettings) -> int:
    return settings.max_response_mb << 20


def _message_cap(n_answers: int, settings: ExecutorSettings) -> int:
    """The longest message each verdict may keep so that all of them fit the response budget."""
    share = _budget(settings) // max(1, n_answers) - _VERDICT_BYTES
    cap = min(_MESSAGE_CHARS, share // _BYTES_PER_CHAR)
    if cap < _MIN_MESSAGE_CHARS:
        raise RequestTooLarge(
            f"{n_answers} answers in one request could make a response over this service's "
            f"{settings.max_response_mb} MB (AZR_EXECUTOR_MAX_RESPONSE_MB): split the batch"
        )
    return cap


def _shortened(verdict: AnswerVerdict, cap: int) -> AnswerVerdict:
    if len(verdict.message) <= cap:
        return verdict
    return verdict.model_copy(update={"message": verdict.message[: cap - 3] + "..."})


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000
