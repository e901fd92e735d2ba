"""SandboxFusion's API on azr: `POST /run_code` (Python) and `GET /v1/ping`, at the root and
under `/sandbox-fusion` (where, with tokens configured, the token is the first path segment:
`http://host:8010/sandbox-fusion/<token>/run_code`; the auth middleware cuts it out).

Errors here take SandboxFusion's shape, `{"detail": ...}`, so its clients report them: 422 with
FastAPI's list of problems (a language other than Python, bad limits or files), 504 when the
queue is full (veRL's client retries only 504), 501 for SandboxFusion's dataset and Jupyter
endpoints, which azr does not serve (veRL's reward code calls only `/run_code`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from azr_proto.asgi import current_tenant
from azr_proto.sandbox_fusion import RunCodeRequest, RunCodeResponse
from fastapi import APIRouter, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import ValidationError

from azr_executor.deps import MetricsDep, PoolDep, SettingsDep
from azr_executor.errors import ExecutorError, Overloaded
from azr_executor.runner import job_from_request, to_wire
from azr_executor.sandbox_fusion import run_request, to_sandbox_fusion

__all__ = ["SANDBOX_FUSION_PREFIX", "router"]

logger = logging.getLogger(__name__)
SANDBOX_FUSION_PREFIX = "/sandbox-fusion"
_NOT_SERVED = (
    "/run_jupyter", "/list_datasets", "/list_ids", "/get_prompts", "/get_prompt_by_id",
    "/submit", "/get_metrics", "/get_metrics_function",
)  # fmt: skip


class _SandboxFusionRoute(APIRoute):
    """Answers this router's errors in SandboxFusion's shape instead of azr's `{code, detail}`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return JSONResponse({"detail": _encodable(exc.errors())}, status_code=422)
            except ValidationError as exc:  # a file name the azr run refuses
                body = {"detail": _encodable(exc.errors(include_url=False))}
                return JSONResponse(body, status_code=422)
            except Overloaded as exc:
                request.app.state.metrics.reject(current_tenant.get(), exc.reason)
                headers = {"Retry-After": str(exc.retry_after_s)}
                return JSONResponse({"detail": str(exc)}, status_code=504, headers=headers)
            except ExecutorError as exc:
                return JSONResponse({"detail": str(exc)}, status_code=exc.status_code)

        return guarded


def _encodable(errors: Any) -> Any:
    """FastAPI's list of problems, made encodable: each problem quotes the request's own text
    (`input`), which may hold a lone surrogate (a legal JSON escape with no UTF-8 form)."""
    value = jsonable_encoder(errors)
    stack = [value]
    while stack:
        item = stack.pop()
        pairs = item.items() if isinstance(item, dict) else enumerate(item)
        for key, inner in list(pairs):
            if isinstance(inner, str) and not inner.isascii():
                item[key] = inner.encode("utf-8", "backslashreplace").decode("utf-8")
            elif isinstance(inner, dict | list):
                stack.append(inner)
    return value


router = APIRouter(tags=["sandbox-fusion"], route_class=_SandboxFusionRoute)


@router.post("/run_code", response_model=RunCodeResponse)
async def run_code(
    req: RunCodeRequest, pool: PoolDep, settings: SettingsDep, metrics: MetricsDep
) -> RunCodeResponse:
    """SandboxFusion's `/run_code`, for `language: "python"`; statuses mapped from azr's."""
    t0 = time.perf_counter()
    result = await pool.run(job_from_request(run_request(req, settings), settings))
    metrics.request_latency.labels(route="/run_code").observe(time.perf_counter() - t0)
    logger.info("route=/run_code code_bytes=%d status=%s queue_ms=%.1f wall_ms=%.1f",
                len(req.code), result.status, result.queue_ms, result.wall_ms)  # fmt: skip
    return to_sandbox_fusion(to_wire(result))


@router.get("/v1/ping")
async def ping() -> str:
    """SandboxFusion's health check."""
    return "pong"


async def _not_served(request: Request) -> JSONResponse:
    path = request.url.path.rsplit("/", 1)[-1]
    detail = (
        f"azr-executor serves SandboxFusion's /run_code (Python) only; /{path} "
        "(datasets, Jupyter) is not served here"
    )
    return JSONResponse({"detail": detail}, status_code=501)


for _path in _NOT_SERVED:
    router.add_api_route(_path, _not_served, methods=["GET", "POST"], include_in_schema=False)
