"""``create_service_app``: a FastAPI app with the shared edge, handlers, health and metrics.

Middleware order, outermost first: timing (sees every answer, 401 and 413 included), API key,
body size limit, JSON-only bodies, then FastAPI's own (errors, routing).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI

from service.auth import ApiKey
from service.edge import ApiKeyMiddleware, BodyLimitMiddleware, JsonOnlyMiddleware, TimingMiddleware
from service.errors import install_error_handlers
from service.health import Readiness, health_router
from service.health_listener import HealthListener
from service.metrics import HttpMetrics, metrics_router


def create_service_app(
    *,
    service: str,
    title: str,
    summary: str,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    http_metrics: HttpMetrics,
    readiness: Readiness,
    api_key: ApiKey,
    max_body_bytes: int,
    routers: Sequence[APIRouter],
    metrics_in_threadpool: bool = False,
    health_address: tuple[str, int] | None = None,
    **fastapi_options: Any,
) -> FastAPI:
    """``health_address`` (host, port): also answer the health paths on that port from a thread of
    their own (``service.health_listener``), open from before the app's start-up to after its end;
    the listener is ``app.state.health_listener``."""
    listener = HealthListener(service, readiness, api_key, *health_address) if health_address else None

    @asynccontextmanager
    async def with_listener(app_: FastAPI) -> AsyncIterator[None]:
        if listener is None:
            async with lifespan(app_):
                yield
            return
        listener.start()  # before start-up: the startup probe sees a live process at once
        try:
            async with lifespan(app_):
                yield
        finally:
            listener.stop()

    app = FastAPI(title=title, version="1", summary=summary, lifespan=with_listener, **fastapi_options)
    app.state.health_listener = listener
    install_error_handlers(app, http_metrics.count_error)
    for router in routers:
        app.include_router(router)
    app.include_router(health_router(service, readiness, api_key))
    app.include_router(metrics_router(http_metrics.registry, in_threadpool=metrics_in_threadpool))
    # add_middleware wraps what is there: the last added is the outermost
    app.add_middleware(JsonOnlyMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    if api_key.configured:
        app.add_middleware(ApiKeyMiddleware, api_key=api_key)
    app.add_middleware(TimingMiddleware, histogram=http_metrics.request_duration)
    return app
