"""Prometheus metrics of one executor app (its own registry, so tests can build many apps)."""

from __future__ import annotations

from collections.abc import Callable

from azr_proto.asgi import current_tenant
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from azr_executor.sandbox import JobResult

__all__ = ["ExecutorMetrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class ExecutorMetrics:
    """Runs by status, run and request latency, queue depth, kills by reason, zygote restarts;
    runs, queue time and rejections per tenant (token name: bounded by the configured tokens)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.runs = Counter(
            "azr_executor_runs", "Runs by final status", ["status"], registry=self.registry
        )
        self.kills = Counter(
            "azr_executor_kills",
            "Runs ended by a limit, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.run_wall = Histogram(
            "azr_executor_run_wall_seconds",
            "Wall time of one run",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.run_queue = Histogram(
            "azr_executor_run_queue_seconds",
            "Time a run waited for a sandbox",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.request_latency = Histogram(
            "azr_executor_request_seconds",
            "Latency of API requests",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "azr_executor_queue_depth", "Runs admitted and not finished", registry=self.registry
        )
        self.tenant_runs = Counter(
            "azr_executor_tenant_runs", "Runs finished, by tenant", ["tenant"],
            registry=self.registry,
        )  # fmt: skip
        self.tenant_queue = Histogram(
            "azr_executor_tenant_queue_seconds", "Time a run waited for a sandbox, by tenant",
            ["tenant"], buckets=_LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.tenant_rejections = Counter(
            "azr_executor_tenant_rejections",
            "Requests turned away with 429, by tenant and reason "
            "(queue_full, tenant_share, token_concurrency)",
            ["tenant", "reason"], registry=self.registry,
        )  # fmt: skip
        self.zygote_restarts = Counter("azr_executor_zygote_restarts", "Zygotes that died and were replaced", registry=self.registry)  # fmt: skip

    def reject(self, tenant: str, reason: str) -> None:
        """Record one request of `tenant` turned away with 429."""
        self.tenant_rejections.labels(tenant=tenant, reason=reason).inc()

    def bind_queue_depth(self, depth: Callable[[], float]) -> None:
        """Read the queue depth from the pool at scrape time."""
        self.queue_depth.set_function(depth)

    def observe(self, result: JobResult) -> None:
        """Record one finished run. Called from the run's done callback, which asyncio runs in
        the context of the request that submitted it: `current_tenant` is that request's."""
        tenant = current_tenant.get()
        self.tenant_runs.labels(tenant=tenant).inc()
        self.tenant_queue.labels(tenant=tenant).observe(result.queue_ms / 1000.0)
        self.runs.labels(status=result.status.value).inc()
        self.run_wall.observe(result.wall_ms / 1000.0)
        self.run_queue.observe(result.queue_ms / 1000.0)
        if result.kill_reason is not None:
            self.kills.labels(reason=result.kill_reason).inc()
