"""The scoring facade: FastAPI app over the scoring core, the online store and the inference log.

Run it with ``predmaint serve`` or ``uvicorn --factory scoring.main:create_app`` (``scoring.main:app``
also works: the module builds that app on first access, from the environment).

Routes: ``POST /predict`` (input models in ``scoring.schemas``), ``POST /ingest``, ``GET /model``
(``scoring.routes``), ``GET /health/live``, ``GET /health/ready`` (checks in ``scoring.readiness``),
``GET /metrics``. The edge, the error handler and the health shape are the shared ones of
``service``: errors answer ``{"error": code, "message": ..., "detail": ...}`` (``core.errors``);
bad input is a 4xx, never a 500.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from core.contract import MAX_BODY_BYTES, TelemetryBatch
from core.layout import DataLayout
from scoring import readiness
from scoring.inference_log import InferenceLogWriter
from scoring.routes import ingest, model, predict
from scoring.schemas import PredictRequest
from scoring.settings import ScoringSettings
from scoring.state import build_state
from service.app import create_service_app
from service.auth import ApiKey
from service.telemetry import configure_telemetry

SERVICE = "scoring"


def create_app(
    settings: ScoringSettings | None = None,
    *,
    layout: DataLayout | None = None,
    registry: CollectorRegistry | None = None,
    log_writer: InferenceLogWriter | None = None,
) -> FastAPI:
    """Build the facade. Nothing is loaded or opened until the app starts (lifespan).

    ``registry`` (Prometheus) and ``log_writer`` can be injected, e.g. by tests.
    """
    settings = settings or ScoringSettings()
    layout = layout or DataLayout.from_env()
    registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
    state = build_state(settings, layout, registry, log_writer)
    configure_telemetry(settings.applicationinsights_connection_string, logger_name=SERVICE)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        state.start()
        try:
            yield
        finally:
            await state.stop()

    app = create_service_app(
        service=SERVICE,
        title="pred-maint scoring facade",
        summary="Anomaly scores for machines, inline or from the Feast online store.",
        lifespan=lifespan,
        http_metrics=state.metrics.http,
        readiness=lambda: readiness.checks(state),
        api_key=ApiKey(settings.api_key.get_secret_value() if settings.api_key else None),
        max_body_bytes=MAX_BODY_BYTES,
        routers=(predict.router, ingest.router, model.router),
        health_address=(settings.host, settings.health_port) if settings.health_port else None,
    )
    app.state.scoring = state
    _document_bodies(app)
    return app


def _document_bodies(app: FastAPI) -> None:
    """Put the bodies the routes parse themselves (and their nested models) into the OpenAPI
    components that ``/predict`` and ``/ingest`` refer to."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model_class in (PredictRequest, TelemetryBatch):
                body = model_class.model_json_schema(ref_template="#/components/schemas/{model}")
                for name, definition in body.pop("$defs", {}).items():
                    components.setdefault(name, definition)
                components[model_class.__name__] = body
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


_app: FastAPI | None = None


def __getattr__(name: str) -> Any:
    """``scoring.main:app`` for uvicorn: built from the environment on first access, not at import."""
    global _app
    if name == "app":
        if _app is None:
            _app = create_app()
        return _app
    raise AttributeError(name)
