"""Assembles the executor FastAPI app: settings, lifespan, routes, guards and error handlers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from azr_proto.asgi import BearerAuth, BodySizeLimit, current_tenant
from azr_proto.common import ErrorBody
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from azr_executor import __version__
from azr_executor.errors import ExecutorError, Overloaded
from azr_executor.hardening import make_non_dumpable, scrub_environment
from azr_executor.metrics import ExecutorMetrics
from azr_executor.routes import azr, health, run, sandbox_fusion, tests
from azr_executor.routes.sandbox_fusion import SANDBOX_FUSION_PREFIX
from azr_executor.sandbox import SandboxPool
from azr_executor.settings import ExecutorSettings

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 413, 422, 429, 500)
}


def create_app(settings: ExecutorSettings | None = None) -> FastAPI:
    """Build the app. Nothing starts at import; the zygote pool starts in the lifespan."""
    settings = settings or ExecutorSettings()
    metrics = ExecutorMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The tokens were read (settings, load_tokens): nothing of them stays readable.
        make_non_dumpable()
        scrub_environment()
        async with SandboxPool.start(settings) as pool:
            pool.on_result = metrics.observe
            pool.on_zygote_death = metrics.zygote_restarts.inc
            metrics.bind_queue_depth(lambda: pool.queue_depth)
            app.state.pool = pool
            logger.info("executor ready: sandbox=%s zygotes=%d", settings.sandbox, settings.zygotes)
            yield

    app = FastAPI(title="azr-executor", version=__version__, lifespan=lifespan, responses=_ERRORS)
    app.state.settings = settings
    app.state.metrics = metrics
    app.include_router(health.router)
    app.include_router(run.router)
    app.include_router(tests.router)
    app.include_router(azr.router)
    app.include_router(sandbox_fusion.router)
    # The same routes under the prefix the token rides in (BearerAuth cuts the token out).
    app.include_router(sandbox_fusion.router, prefix=SANDBOX_FUSION_PREFIX, include_in_schema=False)
    app.add_exception_handler(ExecutorError, _on_executor_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _on_invalid)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _on_http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _on_bug)
    # Pure-ASGI guards (shared with the buffer): size limit outermost, then bearer auth + quota.
    app.add_middleware(
        BearerAuth,
        tokens=settings.load_tokens(),
        max_concurrent=settings.token_concurrency,
        retry_after_s=settings.retry_after_s,
        tenants=settings.token_tenants(),
        path_token_prefix=SANDBOX_FUSION_PREFIX + "/",  # SandboxFusion clients send no header
        path_token_busy_status=504,  # and veRL's retries only 504 (a 429 would score as a fail)
        on_reject=metrics.reject,
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return app


async def _on_executor_error(request: Request, exc: ExecutorError) -> JSONResponse:
    headers = None
    if isinstance(exc, Overloaded):
        headers = {"Retry-After": str(exc.retry_after_s)}
        request.app.state.metrics.reject(current_tenant.get(), exc.reason)
    body = {"code": exc.code, "detail": str(exc)}
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


async def _on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = []
    for err in exc.errors()[:20]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        problems.append(f"{where}: {err.get('msg', 'invalid')}")
    return JSONResponse({"code": "invalid_request", "detail": "; ".join(problems)}, status_code=422)


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}


async def _on_http_error(request: Request, exc: HTTPException) -> JSONResponse:
    if exc.status_code == 400:  # FastAPI could not even decode the body (e.g. invalid UTF-8)
        body = {
            "code": "invalid_request",
            "detail": f"request body is not valid JSON: {exc.detail}",
        }
        return JSONResponse(body, status_code=422)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return JSONResponse({"code": code, "detail": str(exc.detail)}, status_code=exc.status_code,
                        headers=exc.headers)  # fmt: skip


async def _on_bug(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s", request.url.path)
    return JSONResponse({"code": "internal_error", "detail": type(exc).__name__}, status_code=500)
