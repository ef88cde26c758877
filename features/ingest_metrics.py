"""Prometheus view of an :class:`~features.ingest.Ingestor`, read at scrape time.

``predmaint_ingest_readings_total{outcome}`` counts readings by what happened to them: ``accepted``,
``duplicate`` and ``late`` (answered 200, counted in the ingest answer too) and ``future`` (the batch
was refused with 422: dated after the server's clock plus the allowed skew). The write-ahead log's
records and fsyncs show how well group commit batches concurrent requests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Final

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from features.ingest import Ingestor

OUTCOMES: Final = ("accepted", "duplicate", "late", "future")


class IngestCollector(Collector):
    """Yields the ingest metrics of whatever ingestor ``ingestor()`` returns (None: not open yet)."""

    def __init__(self, ingestor: Callable[[], Ingestor | None]) -> None:
        self._ingestor = ingestor

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        ingestor = self._ingestor()
        readings = CounterMetricFamily(
            "predmaint_ingest_readings", "Ingested readings by outcome.", labels=["outcome"]
        )
        records = CounterMetricFamily(
            "predmaint_ingest_wal_records", "Batches appended to the ingest write-ahead log."
        )
        syncs = CounterMetricFamily("predmaint_ingest_wal_syncs", "fsyncs of the ingest write-ahead log.")
        replayed = GaugeMetricFamily(
            "predmaint_ingest_replayed_readings", "Readings replayed from the write-ahead log at start."
        )
        totals = ingestor.totals if ingestor is not None else {}
        for outcome in OUTCOMES:
            readings.add_metric([outcome], totals.get(outcome, 0))
        wal = ingestor.wal if ingestor is not None else None
        records.add_metric([], wal.appended_records if wal is not None else 0)
        syncs.add_metric([], wal.syncs if wal is not None else 0)
        replayed.add_metric([], ingestor.replayed_readings if ingestor is not None else 0)
        yield readings
        yield records
        yield syncs
        yield replayed

    def describe(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        return iter(())


__all__ = ["OUTCOMES", "IngestCollector"]
