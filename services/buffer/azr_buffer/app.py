"""Assembles the buffer FastAPI app: settings, lifespan, middleware, routes and error handlers."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from azr_proto.asgi import BearerAuth, BodySizeLimit
from azr_proto.common import Health
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from azr_buffer import __version__
from azr_buffer.asgi import Metrics, RequestMetrics
from azr_buffer.db import Database, migrate
from azr_buffer.errors import BufferError
from azr_buffer.routes import IMPORT_PATH_PATTERN, router
from azr_buffer.settings import BufferSettings
from azr_buffer.spool import SpoolBudget

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

OPEN_PATHS = ("/healthz", "/readyz", "/metrics")


def create_app(settings: BufferSettings | None = None) -> FastAPI:
    """Build the app. Nothing starts at import; the database opens (and migrates) in the lifespan."""
    settings = settings or BufferSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            await anyio.to_thread.run_sync(migrate, settings.database_url)
        db = Database(settings)
        app.state.db = db
        try:
            yield
        finally:
            db.dispose()

    app = FastAPI(title="azr-buffer", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.metrics = metrics = Metrics()
    app.state.spool = SpoolBudget(settings.max_import_spool_bytes)
    app.state.exports = threading.BoundedSemaphore(min(settings.max_exports, settings.pool_size))
    app.include_router(router)
    _add_error_handlers(app)
    # Outermost first: metrics see every answer, auth runs before any body is read.
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        limits={IMPORT_PATH_PATTERN: settings.max_import_bytes},
    )
    app.add_middleware(BearerAuth, tokens=settings.tokens, exempt_paths=OPEN_PATHS)
    app.add_middleware(RequestMetrics, metrics=metrics)

    @app.get("/healthz", response_model=Health)
    async def healthz() -> Health:
        return Health(status="ok", service="buffer", version=__version__)

    @app.get("/readyz", response_model=Health, responses={503: {"model": Health}})
    def readyz(request: Request) -> Response:
        db: Database | None = getattr(request.app.state, "db", None)
        try:
            if db is None:
                raise RuntimeError("the database is not open yet")
            db.ping()
        except Exception as exc:
            logger.warning("readiness check failed: %s", exc)
            body = Health(status="unavailable", service="buffer", version=__version__)
            return JSONResponse(body.model_dump(), status_code=503)
        return JSONResponse(Health(status="ok", service="buffer", version=__version__).model_dump())

    @app.get("/metrics", include_in_schema=False)
    def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _error(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    # A detail can quote the request (a field name from a validation error's path): keep it
    # encodable even when the request held a lone surrogate.
    detail = detail.encode("utf-8", "backslashreplace").decode()
    return JSONResponse({"code": code, "detail": detail}, status_code=status, headers=headers)


def _add_error_handlers(app: FastAPI) -> None:
    async def on_buffer_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, BufferError)
        retry = None if exc.retry_after_s is None else {"Retry-After": str(exc.retry_after_s)}
        return _error(exc.status_code, exc.code, str(exc), retry)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        parts = []
        for err in exc.errors()[:10]:
            loc = ".".join(str(p) for p in err.get("loc", ()))
            parts.append(f"{loc}: {err.get('msg', 'invalid')}")
        return _error(422, "invalid_request", "; ".join(parts) or "invalid request")

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 400:  # FastAPI could not even decode the body (e.g. invalid UTF-8)
            return _error(422, "invalid_request", f"request body is not valid JSON: {exc.detail}")
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail))

    async def on_database(request: Request, exc: Exception) -> JSONResponse:
        # Locked or unreachable database, or no free connection in time: the transaction rolled
        # back (or never began), so a retry is safe.
        logger.warning("database unavailable: %s", exc)
        return _error(
            503, "database_unavailable", "the database is unavailable; retry", {"Retry-After": "1"}
        )

    async def on_data(request: Request, exc: Exception) -> JSONResponse:
        # A value the database cannot store that the models let through: the client's input.
        logger.warning("database rejected a value: %s", exc)
        return _error(422, "invalid_request", "the database rejected a value of the request")

    async def on_disconnect(request: Request, exc: Exception) -> Response:
        # The client left before its whole body came (an import cut off): nothing was applied and
        # nobody is left to answer. Counted as 499, nginx's "client closed request".
        logger.info(
            "client left %s %s before sending its whole body", request.method, request.url.path
        )
        return Response(status_code=499)

    async def on_bug(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(500, "internal_error", f"{type(exc).__name__}: a bug in the buffer")

    app.add_exception_handler(BufferError, on_buffer_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(OperationalError, on_database)
    app.add_exception_handler(PoolTimeout, on_database)
    app.add_exception_handler(ClientDisconnect, on_disconnect)
    app.add_exception_handler(DataError, on_data)
    app.add_exception_handler(Exception, on_bug)
