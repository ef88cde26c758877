"""What a facade request needs (``ServiceState``), built from the settings by ``build_state``,
started and stopped by the app's lifespan, and handed to routes as ``StateDep``."""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

import numpy as np
from fastapi import Depends, Request
from prometheus_client import CollectorRegistry
from starlette.concurrency import run_in_threadpool

from core.contract import MODEL_FEATURES
from core.layout import DataLayout
from scoring.backends import AmlEndpointBackend, Backend, OnnxBackend, Scored
from scoring.inference_log import InferenceLogWriter, LogChunk
from scoring.metrics import ScoringMetrics
from scoring.model_store import ModelStore
from scoring.online import OnlineFeatureReader
from scoring.settings import ScoringSettings
from scoring.shadow import ShadowScorer, shadow_scorer

if TYPE_CHECKING:
    from ingest.producer import EventHubPublisher

FEATURES: tuple[str, ...] = MODEL_FEATURES


@dataclass
class ServiceState:
    settings: ScoringSettings
    layout: DataLayout
    metrics: ScoringMetrics
    backend: Backend
    store: ModelStore | None
    reader: OnlineFeatureReader | None
    log_writer: InferenceLogWriter | None
    shadow: ShadowScorer | None = None
    """Set with ``SCORING_SHADOW_MODEL_PATH``: a candidate scores every logged request, never served."""
    started_at: float = field(default_factory=time.time)
    publisher: EventHubPublisher | None = None
    """Set with ``SCORING_INGEST_BACKEND=eventhubs``: ``/ingest`` publishes instead of aggregating."""

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
        if self.reader is not None:
            await run_in_threadpool(self.reader.close)  # checkpoints the ingest state (SIGTERM)
        await self.backend.aclose()
        if self.publisher is not None:
            self.publisher.close()
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


def build_state(
    settings: ScoringSettings,
    layout: DataLayout,
    registry: CollectorRegistry,
    log_writer: InferenceLogWriter | None,
) -> ServiceState:
    """Wire the facade from its settings; nothing is loaded or opened until ``start``."""
    metrics = ScoringMetrics(registry)
    store: ModelStore | None = None
    backend: Backend
    if settings.backend == "onnx":
        store = ModelStore(
            settings.model_source(layout),
            poll_interval_s=settings.poll_interval_s,
            on_swap=lambda _scorer: metrics.model_swaps.inc(),
        )
        backend = OnnxBackend(store, FEATURES)
    else:
        backend = AmlEndpointBackend(settings, FEATURES)
    if log_writer is None and settings.log_enabled:
        log_writer = InferenceLogWriter(
            settings.resolved_log_dir(layout),
            segment_bytes=settings.log_segment_bytes,
            retained_segments=settings.log_retained_segments,
            queue_size=settings.log_queue_size,
        )
    reader = None
    if settings.online_store != "none":
        # the reader checks the store in its own thread and guards every call (timeouts, a bounded
        # number in flight, a circuit): readiness and requests read that state, never wait on Redis
        reader = OnlineFeatureReader(
            layout,
            settings.online_store,
            settings.redis_url,
            timeout_s=settings.store_timeout_s,
            max_concurrent=settings.store_max_concurrent,
            circuit_open_s=settings.store_circuit_open_s,
            check_interval_s=settings.store_check_interval_s,
            registry_path=settings.feast_registry,
            max_clock_skew_s=settings.ingest_max_clock_skew_s,
        )
    state = ServiceState(
        settings, layout, metrics, backend, store, reader, log_writer, shadow=shadow_scorer(settings, layout)
    )
    if settings.ingest_backend == "eventhubs" and settings.eventhub_namespace and settings.eventhub_name:
        from ingest.producer import EventHubPublisher  # only then: it imports the ingest core

        state.publisher = EventHubPublisher.connect(settings.eventhub_namespace, settings.eventhub_name)
    metrics.watch(lambda: state.log_writer, lambda: store.current if store is not None else None)
    if reader is not None:
        from features.ingest_metrics import IngestCollector

        registry.register(IngestCollector(lambda: reader.ingestor))
    return state


async def _get_state(request: Request) -> ServiceState:
    """Async on purpose: FastAPI runs a sync dependency in the thread pool (a thread hop per request)."""
    state: ServiceState = request.app.state.scoring
    return state


StateDep = Annotated[ServiceState, Depends(_get_state)]
