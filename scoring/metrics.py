"""Prometheus metrics of the facade, on an injected ``CollectorRegistry``.

Counters and the latency histogram (``service.metrics.HttpMetrics``) are updated on the request
path; values that exist elsewhere (inference log backlog and drops, the serving model) are read at
scrape time by a custom collector.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from service.metrics import HttpMetrics

if TYPE_CHECKING:
    from scoring.core import Scorer
    from scoring.inference_log import InferenceLogWriter


class ScoringMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.http = HttpMetrics(registry, "scoring")
        """Request durations and error counts, as in every service."""
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
