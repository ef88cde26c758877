"""Prometheus metrics of the facade, on an injected ``CollectorRegistry``.

Counters and the latency histogram are updated on the request path; values that exist elsewhere
(inference log backlog and drops, the serving model) are read at scrape time by a custom collector.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from scoring.core import Scorer
    from scoring.inference_log import InferenceLogWriter

LATENCY_BUCKETS_S = (
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

KNOWN_ROUTES = frozenset(
    {"/predict", "/ingest", "/model", "/health/live", "/health/ready", "/metrics", "/openapi.json", "/docs"}
)


def route_label(path: str) -> str:
    """A bounded label set: known routes as themselves, everything else as ``other``."""
    return path if path in KNOWN_ROUTES else "other"


class ScoringMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.request_duration = Histogram(
            "predmaint_scoring_request_duration_seconds",
            "Time from request start to the end of the response body, by route, method and status.",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.predictions = Counter(
            "predmaint_scoring_predictions",
            "Rows scored, by model version.",
            ["model_version"],
            registry=registry,
        )
        self.anomalies = Counter(
            "predmaint_scoring_anomalies",
            "Rows scored at or above the threshold, by model version.",
            ["model_version"],
            registry=registry,
        )
        self.model_swaps = Counter(
            "predmaint_scoring_model_swaps", "Times a new model version was swapped in.", registry=registry
        )
        self.errors = Counter(
            "predmaint_scoring_errors",
            "Requests answered with a domain error, by error code.",
            ["code"],
            registry=registry,
        )

    def watch(
        self, log_writer: Callable[[], InferenceLogWriter | None], scorer: Callable[[], Scorer | None]
    ) -> None:
        self.registry.register(_StateCollector(log_writer, scorer))


class _StateCollector(Collector):
    def __init__(
        self, log_writer: Callable[[], InferenceLogWriter | None], scorer: Callable[[], Scorer | None]
    ) -> None:
        self._log_writer = log_writer
        self._scorer = scorer

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        writer = self._log_writer()
        backlog = GaugeMetricFamily(
            "predmaint_inference_log_backlog", "Requests waiting to be written to the inference log."
        )
        dropped = CounterMetricFamily(
            "predmaint_inference_log_dropped_records", "Scored rows not logged (queue full or write error)."
        )
        written = CounterMetricFamily(
            "predmaint_inference_log_written_records", "Scored rows written to the log."
        )
        backlog.add_metric([], writer.backlog if writer else 0)
        dropped.add_metric([], writer.dropped_records if writer else 0)
        written.add_metric([], writer.written_records if writer else 0)
        yield backlog
        yield dropped
        yield written
        info = GaugeMetricFamily(
            "predmaint_scoring_model_info",
            "1 for the model version being served (threshold and reference hash as labels).",
            labels=["model_version", "reference_hash"],
        )
        loaded = GaugeMetricFamily(
            "predmaint_scoring_model_loaded_timestamp_seconds", "Unix time the serving model was loaded."
        )
        scorer = self._scorer()
        if scorer is not None:
            info.add_metric([scorer.version, scorer.reference_hash], 1)
            loaded.add_metric([], scorer.loaded_at.timestamp())
        yield info
        yield loaded

    def describe(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        return iter(())
