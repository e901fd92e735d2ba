"""`/healthz` (the process is alive), `/readyz` (a zygote can take runs), `/metrics`."""

from __future__ import annotations

from azr_proto.common import Health
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from azr_executor import __version__
from azr_executor.deps import MetricsDep, PoolDep

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    return Health(status="ok", service="executor", version=__version__)


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
async def readyz(pool: PoolDep) -> Response:
    if pool.ready:
        return JSONResponse(
            Health(status="ok", service="executor", version=__version__).model_dump()
        )
    body = Health(status="unavailable", service="executor", version=__version__).model_dump()
    return JSONResponse(body, status_code=503)


@router.get("/metrics", response_class=Response)
async def metrics(metrics: MetricsDep) -> Response:
    """Prometheus metrics: runs by status, latencies, queue depth, kills by reason."""
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
