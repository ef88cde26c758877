"""The scoring facade: FastAPI app over the scoring core, the online store and the inference log.

Run it with ``predmaint serve`` or ``uvicorn --factory scoring.main:create_app`` (``scoring.main:app``
also works: the module builds that app on first access, from the environment).

Routes: ``POST /predict``, ``POST /ingest``, ``GET /model``, ``GET /health/live``, ``GET /health/ready``,
``GET /metrics``. Errors answer ``{"error": code, "message": ..., "detail": ...}`` with the status of
the domain error (see ``scoring.errors``); bad input is a 4xx, never a 500.
"""

from __future__ import annotations

import gc
import logging
import math
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

import numpy as np
import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.bundle_source import BundleSource as ModelSource
from core.bundle_source import PathSource, RegistrySource
from core.contract import (
    FEATURE_TTL,
    MAX_BODY_BYTES,
    MAX_INGEST_BATCH,
    MAX_PREDICT_BATCH,
    MODEL_FEATURES,
    TelemetryBatch,
    describe_errors,
)
from core.layout import DataLayout
from scoring.backends import AmlEndpointBackend, Backend, OnnxBackend, Scored
from scoring.errors import (
    InvalidInput,
    OnlineStoreUnavailable,
    ScoringError,
    StaleFeatures,
    UnknownMachine,
)
from scoring.inference_log import InferenceLogWriter, LogChunk
from scoring.metrics import ScoringMetrics
from scoring.middleware import ApiKeyMiddleware, BodyLimitExceeded, BodyLimitMiddleware, TimingMiddleware
from scoring.model_store import ModelStore
from scoring.online import OnlineFeatureReader
from scoring.schemas import BatchPrediction, ErrorBody, ModelInfo, PredictRequest, SinglePrediction
from scoring.settings import ScoringSettings
from scoring.shadow import ShadowScorer, shadow_scorer

log = logging.getLogger(__name__)

_JSON = "application/json"
_FEATURES: tuple[str, ...] = MODEL_FEATURES


def _json(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type=_JSON, headers=headers)


@dataclass
class ServiceState:
    """Everything a request needs; built by ``create_app``, started and stopped by the lifespan."""

    settings: ScoringSettings
    layout: DataLayout
    metrics: ScoringMetrics
    backend: Backend
    store: ModelStore | None
    reader: OnlineFeatureReader | None
    log_writer: InferenceLogWriter | None
    shadow: ShadowScorer | None = None
    started_at: float = field(default_factory=time.time)

    def start(self) -> None:
        if self.log_writer is not None:
            self.log_writer.start()
        if self.shadow is not None:
            self.shadow.start()
        if self.store is not None:
            if self.store.source.watchable:
                self.store.start_in_background()  # registry: mlflow import and download off the start path
            else:
                self.store.start()
        if self.reader is not None:
            self.reader.open_in_background(on_open=gc.freeze)
        # Everything loaded so far lives as long as the process: keep it out of the cyclic GC, whose
        # full collections over Feast's and pandas' heaps otherwise show up as p99 latency spikes.
        gc.freeze()

    async def stop(self) -> None:
        if self.store is not None:
            self.store.stop()
        await self.backend.aclose()
        if self.log_writer is not None:
            self.log_writer.close()
        if self.shadow is not None:
            self.shadow.close()

    def log(self, chunk: LogChunk) -> None:
        if self.log_writer is not None:
            self.log_writer.submit(chunk)
        if self.shadow is not None:
            self.shadow.submit(chunk)

    def count(self, scored: Scored) -> None:
        rows = int(scored.scores.shape[0])
        anomalies = int(np.count_nonzero(scored.scores >= scored.threshold))
        self.metrics.predictions.labels(scored.model_version).inc(rows)
        if anomalies:
            self.metrics.anomalies.labels(scored.model_version).inc(anomalies)


async def _get_state(request: Request) -> ServiceState:
    """Async on purpose: FastAPI runs a sync dependency in the thread pool (a thread hop per request)."""
    state: ServiceState = request.app.state.scoring
    return state


StateDep = Annotated[ServiceState, Depends(_get_state)]

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in (
        (401, "API key missing or wrong (when SCORING_API_KEY is set)"),
        (404, "no online features for a machine"),
        (409, "online features older than the feature view TTL (stale), never scored"),
        (413, f"body larger than {MAX_BODY_BYTES} bytes"),
        (422, "input broke the contract: detail lists field, rule, message"),
        (503, "no model loaded, or online store unreachable (machine_id path only)"),
    )
}


def _source(settings: ScoringSettings, layout: DataLayout) -> ModelSource:
    if settings.model_path is not None:
        return PathSource(settings.model_path)
    return RegistrySource(
        tracking_uri=settings.resolved_tracking_uri(layout),
        name=settings.model_name,
        cache_dir=settings.resolved_cache_dir(),
    )


_otel_configured = False


def _configure_telemetry(settings: ScoringSettings) -> None:
    """Azure Monitor OpenTelemetry, only when a connection string is set; once per process."""
    global _otel_configured
    if settings.applicationinsights_connection_string is None or _otel_configured:
        return
    from azure.monitor.opentelemetry import configure_azure_monitor

    configure_azure_monitor(
        connection_string=settings.applicationinsights_connection_string.get_secret_value(),
        logger_name="scoring",
    )
    _otel_configured = True


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
    metrics = ScoringMetrics(registry)
    _configure_telemetry(settings)

    store: ModelStore | None = None
    backend: Backend
    if settings.backend == "onnx":
        store = ModelStore(
            _source(settings, layout),
            poll_interval_s=settings.poll_interval_s,
            on_swap=lambda _scorer: metrics.model_swaps.inc(),
        )
        backend = OnnxBackend(store, _FEATURES)
    else:
        backend = AmlEndpointBackend(settings, _FEATURES)
    if log_writer is None and settings.log_enabled:
        log_writer = InferenceLogWriter(
            settings.resolved_log_dir(layout),
            segment_bytes=settings.log_segment_bytes,
            retained_segments=settings.log_retained_segments,
            queue_size=settings.log_queue_size,
        )
    reader = (
        OnlineFeatureReader(
            layout,
            settings.online_store,
            settings.redis_url,
            probe_timeout_s=settings.store_timeout_s,
            registry_path=settings.feast_registry,
        )
        if settings.online_store != "none"
        else None
    )
    shadow = shadow_scorer(settings, layout)
    state = ServiceState(settings, layout, metrics, backend, store, reader, log_writer, shadow)
    metrics.watch(lambda: state.log_writer, lambda: store.current if store is not None else None)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        state.start()
        try:
            yield
        finally:
            await state.stop()

    app = FastAPI(
        title="pred-maint scoring facade",
        version="1",
        summary="Anomaly scores for machines, inline or from the Feast online store.",
        lifespan=lifespan,
    )
    app.state.scoring = state
    _install_handlers(app, metrics)
    _install_routes(app)
    _document_predict_body(app)

    # outermost first: timing sees every answer, including 401 and 413
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES)
    if settings.api_key is not None:
        app.add_middleware(ApiKeyMiddleware, api_key=settings.api_key.get_secret_value())
    app.add_middleware(TimingMiddleware, metrics=metrics)
    return app


def _install_handlers(app: FastAPI, metrics: ScoringMetrics) -> None:
    def render(error: ScoringError) -> Response:
        metrics.errors.labels(error.code).inc()
        return _json(error.body(), error.status, error.headers)

    @app.exception_handler(ScoringError)
    async def _scoring_error(_request: Request, exc: ScoringError) -> Response:
        return render(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> Response:
        return render(InvalidInput(describe_errors(list(exc.errors()))))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        if isinstance(exc, BodyLimitExceeded):
            return _json(
                {"error": "body_too_large", "message": exc.detail, "detail": {"max_bytes": exc.max_bytes}},
                413,
            )
        return _json(
            {"error": f"http_{exc.status_code}", "message": str(exc.detail)}, exc.status_code, exc.headers
        )

    from features.errors import FeaturesError

    @app.exception_handler(FeaturesError)
    async def _features_error(_request: Request, exc: FeaturesError) -> Response:
        code = "".join(f"_{c.lower()}" if c.isupper() else c for c in type(exc).__name__).lstrip("_")
        body: dict[str, Any] = {"error": code, "message": str(exc)}
        if exc.hint:
            body["hint"] = exc.hint
        errors = getattr(exc, "errors", None)
        if isinstance(errors, list):
            body["detail"] = [
                {"field": e.column, "rule": e.rule, "message": e.message}
                for e in errors
                if hasattr(e, "column")
            ]
        metrics.errors.labels(code).inc()
        return _json(body, exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> Response:
        log.exception("unexpected error", exc_info=exc)
        metrics.errors.labels("internal_error").inc()
        return _json({"error": "internal_error", "message": "unexpected server error"}, 500)


def _install_routes(app: FastAPI) -> None:
    @app.post(
        "/predict",
        response_model=SinglePrediction | BatchPrediction,
        responses=_ERRORS,
        summary=f"Score one row or up to {MAX_PREDICT_BATCH}, inline or by machine_id",
        openapi_extra={
            "requestBody": {"required": True, "content": {_JSON: {"schema": {"$ref": _PREDICT_REF}}}}
        },
    )
    async def predict(request: Request) -> Response:
        """Inline rows are scored as given. ``machine_id(s)`` read the latest window features from the
        online store; features older than the TTL are refused with 409 (``stale_features``), unknown
        machines with 404, and an unreachable store answers 503 (inline scoring keeps working)."""
        # The hot path parses its body itself: pydantic-core straight from bytes, no dependency
        # solving (about a third of FastAPI's per-request cost); the schema is in the OpenAPI document.
        state: ServiceState = request.app.state.scoring
        try:
            body = PredictRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            raise InvalidInput(describe_errors(exc)) from None
        if body.features is not None or body.rows is not None:
            rows = [body.features] if body.features is not None else body.rows
            matrix = np.array(
                [[getattr(row, name) for name in _FEATURES] for row in rows or ()], dtype=np.float32
            )
            scored = await state.backend.score(matrix)
            extras: list[dict[str, Any]] | None = None
            machine_ids: tuple[str, ...] | None = None
            event_ts: tuple[float | None, ...] | None = None
        else:
            ids = [body.machine_id] if body.machine_id is not None else list(body.machine_ids or ())
            matrix, extras, event_ts = await _online_matrix(state, ids)
            machine_ids = tuple(ids)
            scored = await state.backend.score(matrix)
        state.count(scored)
        state.log(
            LogChunk(
                ts=time.time(),
                model_version=scored.model_version,
                features=_FEATURES,
                matrix=matrix,
                scores=scored.scores,
                threshold=scored.threshold,
                machine_ids=machine_ids,
                event_timestamps=event_ts,
                top_features=scored.top_features,
            )
        )
        predictions = []
        top = scored.top_features
        for i, score in enumerate(scored.scores.tolist()):
            item: dict[str, Any] = {"anomaly_score": score, "is_anomaly": score >= scored.threshold}
            if top is not None:
                item["top_features"] = top[i]
            if extras is not None:
                item.update(extras[i])
            predictions.append(item)
        if body.is_batch:
            return _json(
                {
                    "model_version": scored.model_version,
                    "threshold": scored.threshold,
                    "predictions": predictions,
                }
            )
        return _json({**predictions[0], "model_version": scored.model_version, "threshold": scored.threshold})

    @app.post("/ingest", responses=_ERRORS, summary=f"Ingest up to {MAX_INGEST_BATCH} telemetry readings")
    async def ingest(batch: TelemetryBatch, state: StateDep) -> Response:
        """Aggregates readings into hourly windows and pushes them to the online and offline stores."""
        if state.reader is None:
            raise OnlineStoreUnavailable("no online store configured (SCORING_ONLINE_STORE=none)")
        result = await run_in_threadpool(state.reader.ingest, batch)
        payload = result.model_dump(mode="json") if hasattr(result, "model_dump") else _plain(result)
        return _json(payload)

    @app.get("/model", response_model=ModelInfo, responses=_ERRORS, summary="The model being served")
    async def model(state: StateDep) -> Response:
        return _json(state.backend.info().model_dump(mode="json"))

    @app.get("/health/live", summary="The process answers")
    async def live() -> Response:
        return _json({"status": "ok"})

    @app.get("/health/ready", summary="A model is loaded (online store reported separately)")
    async def ready(state: StateDep) -> Response:
        """200 when a model is loaded (inline scoring works); 503 otherwise. ``model.source`` says what
        the last registry poll found (``ok``, ``no_champion``, ``unreachable``, ``misconfigured``,
        ``error``) and why. The online store's reachability is reported in ``online_store`` and does
        not fail readiness: inline scoring still works without it."""
        model_ok, model_reason = state.backend.ready()
        info = state.backend.info()
        if state.reader is None:
            store: dict[str, Any] = {"kind": "none", "reachable": False, "reason": "not configured"}
        else:
            reachable, reason = await run_in_threadpool(state.reader.probe)
            store = {
                "kind": state.reader.kind,
                "state": state.reader.state,
                "reachable": reachable,
                "reason": reason,
            }
        writer = state.log_writer
        payload = {
            "ready": model_ok,
            # the registry's state shows even while a loaded model serves (a later poll failed)
            "model": {
                "loaded": model_ok,
                "version": info.version,
                "reason": model_reason,
                "source": state.backend.source_status(),
            },
            "online_store": store,
            "inference_log": {
                "backlog": writer.backlog if writer else 0,
                "dropped_records": writer.dropped_records if writer else 0,
            },
        }
        return _json(payload, 200 if model_ok else 503)

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics(state: StateDep) -> Response:
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


_PREDICT_REF = "#/components/schemas/PredictRequest"


def _document_predict_body(app: FastAPI) -> None:
    """Put PredictRequest (and its nested models) into the OpenAPI components that /predict refers to."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            body = PredictRequest.model_json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, definition in body.pop("$defs", {}).items():
                components.setdefault(name, definition)
            components["PredictRequest"] = body
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def _plain(value: Any) -> Any:
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


async def _online_matrix(
    state: ServiceState, machine_ids: list[str]
) -> tuple[np.ndarray, list[dict[str, Any]], tuple[float | None, ...]]:
    """Features of these machines from the online store, checked for presence and freshness."""
    if state.reader is None:
        raise OnlineStoreUnavailable("no online store configured (SCORING_ONLINE_STORE=none)")
    now = datetime.now(UTC)
    found = await run_in_threadpool(state.reader.read, machine_ids, now)
    unknown = [f.machine_id for f in found if f.values is None]
    if unknown:
        raise UnknownMachine(f"no online features for {', '.join(unknown[:10])}", {"machine_ids": unknown})
    stale = [f for f in found if f.is_stale]
    if stale:
        raise StaleFeatures(
            f"features of {', '.join(f.machine_id for f in stale[:10])} are older than the "
            f"{FEATURE_TTL.total_seconds():.0f} s TTL; refusing to score them",
            {
                "ttl_s": FEATURE_TTL.total_seconds(),
                "machines": [
                    {
                        "machine_id": f.machine_id,
                        "event_timestamp": f.event_timestamp.isoformat() if f.event_timestamp else None,
                        "age_s": f.age_s,
                    }
                    for f in stale
                ],
            },
        )
    rows = []
    extras = []
    event_ts: list[float | None] = []
    for f in found:
        values = [f.values.get(name) for name in _FEATURES]
        if any(v is None or not math.isfinite(float(v)) for v in values):
            raise StaleFeatures(
                f"online features of {f.machine_id} are incomplete or not finite; refusing to score them",
                {"machine_id": f.machine_id},
            )
        rows.append(values)
        event_ts.append(f.event_timestamp.timestamp() if f.event_timestamp else None)
        extras.append(
            {
                "machine_id": f.machine_id,
                "event_timestamp": f.event_timestamp.isoformat() if f.event_timestamp else None,
                "feature_age_s": f.age_s,
                "is_sparse": bool(f.is_sparse),
            }
        )
    return np.array(rows, dtype=np.float32), extras, tuple(event_ts)


_app: FastAPI | None = None


def __getattr__(name: str) -> Any:
    """``scoring.main:app`` for uvicorn: built from the environment on first access, not at import."""
    global _app
    if name == "app":
        if _app is None:
            _app = create_app()
        return _app
    raise AttributeError(name)
