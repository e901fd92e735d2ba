"""Pure-ASGI request metrics for the buffer. (Bearer-token authentication and the body-size
limit are the shared `azr_proto.asgi.BearerAuth` and `BodySizeLimit`.)

Pure ASGI (not BaseHTTPMiddleware) so that streamed bodies (imports, exports) pass through
untouched.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Metrics", "RequestMetrics"]

logger = logging.getLogger(__name__)


class Metrics:
    """The Prometheus collectors of one app (own registry: several apps can share a process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "azr_buffer_requests",
            "HTTP requests.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "azr_buffer_request_seconds",
            "HTTP request latency.",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30),
            registry=self.registry,
        )
        self.tasks = Counter(
            "azr_buffer_tasks",
            "Tasks offered to the buffer, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.sampled = Counter(
            "azr_buffer_sampled_tasks", "Tasks returned by sample.", registry=self.registry
        )


class RequestMetrics:
    """Count and time every request by route template; log one key=value line per request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def tracked_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, tracked_send)
        finally:
            route: Any = scope.get("route")
            name = getattr(route, "path", "unmatched")
            elapsed = time.perf_counter() - start
            self.metrics.requests.labels(scope["method"], name, str(status)).inc()
            self.metrics.latency.labels(name).observe(elapsed)
            logger.debug(
                "request method=%s route=%s status=%d ms=%.2f",
                scope["method"],
                name,
                status,
                elapsed * 1000,
            )
