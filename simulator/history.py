"""The one history writer: a simulated fleet history -> raw readings file, labels, offline windows.

Used by ``predmaint simulate``, the demo (:mod:`predmaint.demo.history`) and tests. The history is
generated and ingested in time slices of whole hours, sized to about ``SLICE_READINGS`` readings
(at most a day), so memory does not grow with the number of days, and the readings of a slice never
wait for the rest of the fleet's history: each slice goes to the raw readings file (one parquet
file, appended row group by row group) and to :class:`features.history_ingest.HistoryIngest`
(hourly windows with relative features, merged into the day files) before the next is simulated.
The outputs are those of one ``FleetSimulator.history()`` followed by one ``ingest_history``: the
same readings in the same order, the same day files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final

import pandas as pd

from core.allocator import release_free_memory
from core.contract import WINDOW
from core.layout import DataLayout
from simulator.fleet import FleetSimulator, SimulationResult

if TYPE_CHECKING:
    from features.history_ingest import HistorySummary

SLICE_READINGS: Final = 72_000
"""Readings per generated slice (a slice is whole hours: at least one, at most a day): a day of 50
machines, an hour of 1,200. Memory follows the slice, time hardly (2,000 machines: 1-hour slices)."""
HISTORY_FILE: Final = "history.parquet"
"""Raw simulated readings under ``layout.telemetry_dir``."""

Progress = Callable[[int, int], None]
"""``progress(slices done, slices total)``."""


@dataclass(frozen=True)
class WrittenHistory:
    """What :func:`write_history` wrote: readings (count), labels (frames), windows (summary)."""

    readings: int
    readings_path: Path | None
    failures: pd.DataFrame
    maintenance: pd.DataFrame
    summary: HistorySummary | None


def slice_hours(machines: int, interval_s: int) -> int:
    """Hours per slice: about ``SLICE_READINGS`` readings of the whole fleet, 1 to 24."""
    per_hour = machines * max(1, int(WINDOW.total_seconds()) // interval_s)
    return max(1, min(24, SLICE_READINGS // max(1, per_hour)))


def slices(start: datetime, end: datetime, hours: int) -> Iterator[tuple[datetime, datetime]]:
    """``[t0, t1)`` intervals covering ``[start, end)``, each ending on a whole hour (window
    boundaries: no window spans two slices) except the last."""
    step = timedelta(hours=hours)
    t0 = start
    while t0 < end:
        floor = pd.Timestamp(t0).floor(WINDOW).to_pydatetime()
        t1 = min(end, floor + step)
        yield t0, t1
        t0 = t1


def write_history(
    sim: FleetSimulator,
    layout: DataLayout,
    *,
    end: datetime | None = None,
    raw: bool = True,
    ingest: bool = True,
    write_label_files: bool = True,
    progress: Progress | None = None,
) -> WrittenHistory:
    """Simulate ``sim``'s history up to ``end`` (default: its configured end) slice by slice.

    ``raw`` writes the readings to ``layout.telemetry_dir / HISTORY_FILE``; ``write_label_files``
    writes every failure with an onset before ``end`` and the maintenance periods (and the machine
    registry the relative features need; callers that write their own labels, like the demo, pass
    False and must have written the registry first); ``ingest`` writes the hourly windows and the
    tail file. Raises ``InvalidReadings`` (never for simulated readings).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from simulator.labels import write_labels

    c = sim.config
    stop = end or c.end
    failures, maintenance = sim.failures_before(stop), sim.maintenance_before(stop)
    if write_label_files:
        write_labels(
            layout,
            SimulationResult(
                config=c,
                readings=sim.readings_between(stop, stop),
                failures=failures,
                maintenance=maintenance,
                machines=sim.machines,
            ),
        )
    writer = None
    if ingest:
        from features.history_ingest import HistoryIngest

        writer = HistoryIngest(layout)
    path = layout.telemetry_dir / HISTORY_FILE if raw else None
    parquet: pq.ParquetWriter | None = None
    tmp = path.with_name(f".{path.name}.tmp") if path is not None else None
    parts = list(slices(c.start, stop, slice_hours(c.machines, c.interval_s)))
    count = 0
    try:
        for done, (t0, t1) in enumerate(parts, start=1):
            readings = sim.readings_between(t0, t1)
            count += len(readings)
            if tmp is not None:
                table = pa.Table.from_pandas(readings, preserve_index=False)
                if parquet is None:
                    tmp.parent.mkdir(parents=True, exist_ok=True)
                    parquet = pq.ParquetWriter(tmp, table.schema)
                parquet.write_table(table)
                del table  # not held while the slice is aggregated
            if writer is not None:
                writer.add(readings)
            if progress is not None:
                progress(done, len(parts))
            del readings  # before the next slice is made, not after
            release_free_memory()  # else the C heap grows with the days (see core.allocator)
        if tmp is not None and parquet is None:  # an empty history still leaves a (typed) file
            tmp.parent.mkdir(parents=True, exist_ok=True)
            sim.readings_between(stop, stop).to_parquet(tmp, index=False)
    finally:
        if parquet is not None:
            parquet.close()
    if tmp is not None and path is not None:
        tmp.replace(path)
    return WrittenHistory(
        readings=count,
        readings_path=path,
        failures=failures,
        maintenance=maintenance,
        summary=writer.finish() if writer is not None else None,
    )


__all__ = ["HISTORY_FILE", "SLICE_READINGS", "WrittenHistory", "slice_hours", "slices", "write_history"]
