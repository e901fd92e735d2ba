"""FastAPI dependencies: the resources the lifespan owns, read per request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from azr_executor.metrics import ExecutorMetrics
from azr_executor.sandbox import SandboxPool
from azr_executor.settings import ExecutorSettings

__all__ = ["MetricsDep", "PoolDep", "SettingsDep", "get_metrics", "get_pool", "get_settings"]


def get_pool(request: Request) -> SandboxPool:
    pool: SandboxPool = request.app.state.pool
    return pool


def get_settings(request: Request) -> ExecutorSettings:
    settings: ExecutorSettings = request.app.state.settings
    return settings


def get_metrics(request: Request) -> ExecutorMetrics:
    metrics: ExecutorMetrics = request.app.state.metrics
    return metrics


PoolDep = Annotated[SandboxPool, Depends(get_pool)]
SettingsDep = Annotated[ExecutorSettings, Depends(get_settings)]
MetricsDep = Annotated[ExecutorMetrics, Depends(get_metrics)]
