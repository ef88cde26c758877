"""HTTP metrics of a service and its ``GET /metrics``, on an injected ``CollectorRegistry``."""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

METRICS_PATH: Final = "/metrics"
LATENCY_BUCKETS_S: Final = (
    0.0001,
    0.00025,
    0.0005,
    0.00075,
    0.001,
    0.0015,
    0.0025,
    0.005,
    0.0075,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)
"""Seconds; the lower half resolves sub-millisecond scoring."""


class HttpMetrics:
    """``predmaint_<service>_request_duration_seconds`` (route template, method, status) and
    ``predmaint_<service>_errors_total`` (error code) of one service."""

    def __init__(self, registry: CollectorRegistry, service: str) -> None:
        self.registry = registry
        self.request_duration = Histogram(
            f"predmaint_{service}_request_duration_seconds",
            "Time from request start to the end of the response body, by route, method and status.",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.errors = Counter(
            f"predmaint_{service}_errors",
            "Requests answered with an error (or abandoned by the client), by error code.",
            ["code"],
            registry=registry,
        )

    def count_error(self, code: str) -> None:
        self.errors.labels(code).inc()


def metrics_router(registry: CollectorRegistry, *, in_threadpool: bool = False) -> APIRouter:
    """``GET /metrics``. ``in_threadpool`` for collectors that may wait on a lock (the sidecar's
    latest check), so a scrape never blocks the event loop."""
    router = APIRouter(tags=["metrics"])

    @router.get(METRICS_PATH, summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        text = (
            await run_in_threadpool(generate_latest, registry) if in_threadpool else generate_latest(registry)
        )
        return Response(text, media_type=CONTENT_TYPE_LATEST)

    return router
