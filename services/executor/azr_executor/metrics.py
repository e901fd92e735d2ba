"""Prometheus metrics of one executor app (its own registry, so tests can build many apps)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from azr_executor.sandbox import JobResult

__all__ = ["ExecutorMetrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class ExecutorMetrics:
    """Runs by status, run and request latency, queue depth, kills by reason, zygote restarts."""

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
        self.zygote_restarts = Counter("azr_executor_zygote_restarts", "Zygotes that died and were replaced", registry=self.registry)  # fmt: skip

    def bind_queue_depth(self, depth: Callable[[], float]) -> None:
        """Read the queue depth from the pool at scrape time."""
        self.queue_depth.set_function(depth)

    def observe(self, result: JobResult) -> None:
        """Record one finished run."""
        self.runs.labels(status=result.status.value).inc()
        self.run_wall.observe(result.wall_ms / 1000.0)
        self.run_queue.observe(result.queue_ms / 1000.0)
        if result.kill_reason is not None:
            self.kills.labels(reason=result.kill_reason).inc()
