"""Pure-ASGI middleware: request-body size limits per path, and request metrics. (Bearer-token
authentication is the shared `azr_proto.asgi.BearerAuth`.)

Pure ASGI (not BaseHTTPMiddleware) so that streamed bodies (imports, exports) pass through
untouched and a limit is enforced while the body streams in, before the app buffers it.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimit", "Metrics", "RequestMetrics"]

logger = logging.getLogger(__name__)


async def _send_error(
    send: Send, status: int, code: str, detail: str, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    body = json.dumps({"code": code, "detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


class BodyLimit:
    """Answer 413 when a request body is over its limit: up front from Content-Length, or as
    soon as the streamed body passes the limit. `limits` maps path regexes to their own limit."""

    def __init__(self, app: ASGIApp, max_bytes: int, limits: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.limits = [(re.compile(p), n) for p, n in (limits or {}).items()]

    def _limit(self, path: str) -> int:
        for pattern, n in self.limits:
            if pattern.fullmatch(path):
                return n
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope["path"])
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await _send_error(send, 413, "too_large", f"request body over {limit} bytes")
                return
        seen = 0
        started = rejected = False

        async def limited_receive() -> Message:
            nonlocal seen, rejected
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Answer now: the app may turn any error while reading the body into its own
                    # 400; whatever it sends after this is dropped.
                    if not started and not rejected:
                        rejected = True
                        await _send_error(
                            send, 413, "too_large", f"request body over {limit} bytes"
                        )
                    raise _TooLarge
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if rejected:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except _TooLarge:
            if not rejected:
                raise


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
