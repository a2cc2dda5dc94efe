"""Prometheus metrics of one API app: requests and latency per endpoint, cache hits and
misses, rate-limit rejections, the served model's age (text format at ``/metrics``)."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Latency buckets (seconds): the goals are 20 ms cached and 100 ms uncached.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class ApiMetrics:
    """The app's own registry (two apps in one process never share counters)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "timbre_api_requests",
            "Requests answered, by method, endpoint (route template) and status.",
            ["method", "endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "timbre_api_request_duration_seconds",
            "Seconds from request to response, by endpoint.",
            ["endpoint"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.cache = Counter(
            "timbre_api_cache", "Recommendation cache lookups by result.", ["result"],
            registry=self.registry,
        )  # fmt: skip
        self.rate_limited = Counter(
            "timbre_api_rate_limited", "Requests refused by a key's rate limit.",
            registry=self.registry,
        )  # fmt: skip
        self.model_age = Gauge(
            "timbre_api_model_age_seconds",
            "Seconds since the served run was trained (-1 before one is loaded).",
            registry=self.registry,
        )
        self.model_age.set(-1)
        for result in ("hit", "miss"):
            self.cache.labels(result)

    def text(self) -> bytes:
        """Every metric in the Prometheus text format."""
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts and times every HTTP request under its route's template (``/v1/stats``), or
    ``unmatched`` for a path no route serves."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def record(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            route: Any = scope.get("route")
            endpoint = str(getattr(route, "path", "unmatched"))
            self.metrics.requests.labels(scope["method"], endpoint, str(status[0])).inc()
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
