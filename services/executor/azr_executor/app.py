"""Assembles the executor FastAPI app: settings, lifespan, routes and error handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from azr_proto.common import Health
from fastapi import FastAPI

from azr_executor import __version__
from azr_executor.settings import ExecutorSettings

__all__ = ["create_app"]


def create_app(settings: ExecutorSettings | None = None) -> FastAPI:
    """Build the app. Nothing starts at import; resources start in the lifespan."""
    settings = settings or ExecutorSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield

    app = FastAPI(title="azr-executor", version=__version__, lifespan=lifespan)
    app.state.settings = settings

    @app.get("/healthz", response_model=Health)
    async def healthz() -> Health:
        return Health(status="ok", service="executor", version=__version__)

    @app.get("/readyz", response_model=Health)
    async def readyz() -> Health:
        return Health(status="ok", service="executor", version=__version__)

    return app
