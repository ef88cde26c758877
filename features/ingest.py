"""Ingest: validated readings -> hourly windows -> offline parquet and the online store.

- :class:`Ingestor` is the live path behind the facade's ``POST /ingest`` (and an Event Hubs consumer
  on Azure): a validated :class:`TelemetryBatch` goes through a :class:`WindowAggregator`; every
  window the batch changed is appended offline, and each machine's newest changed window is pushed
  to the online store through the push source.
- :func:`ingest_history` is the bulk path used by ``predmaint simulate``: a whole history frame is
  validated and aggregated in one vectorised pass and written offline; ``predmaint features
  materialize`` then loads the online store. It also keeps the raw tail of the history (the readings
  that can still change a window) so that a live :class:`Ingestor` continues those windows instead
  of starting them over.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from core.contract import (
    ENTITY_KEY,
    EVENT_TIMESTAMP,
    IS_SPARSE,
    LATE_GRACE,
    SENSOR_NAMES,
    TIMESTAMP,
    WINDOW,
    TelemetryBatch,
)
from core.layout import DataLayout
from features.aggregate import (
    WINDOW_COLUMNS,
    WindowAggregator,
    WindowUpdate,
    aggregate_windows,
    prepare_readings,
)
from features.errors import NoOfflineData
from features.relative import HISTORY_NEEDED, RelativeState, read_machine_types, with_relative
from features.store import latest_revisions, offline_files, push_online, read_offline, write_offline
from features.validate import READING_COLUMNS, validate_frame

if TYPE_CHECKING:
    from feast import FeatureStore

TAIL_FILE: Final = "ingest-tail.parquet"
"""Under ``layout.telemetry_dir``: the raw readings of the last ``LATE_GRACE + WINDOW`` per machine,
written by :func:`ingest_history`, read by :class:`Ingestor` to continue open windows."""

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_US: Final = timedelta(microseconds=1)

Progress = Callable[[int, int], None]
"""``progress(done, total)``."""


class IngestResult(BaseModel):
    """What one ingest call did. Counts are readings unless named windows."""

    model_config = ConfigDict(frozen=True)

    received: int
    accepted: int
    duplicates: int
    late: int
    windows_updated: int
    pushed_online: int
    written_offline: int
    """Windows written to, or queued for, the offline store."""


def batch_frame(batch: TelemetryBatch) -> pd.DataFrame:
    """A validated batch as a readings frame (contract columns, UTC timestamps), in arrival order."""
    readings = batch.readings
    frame = pd.DataFrame(
        {
            ENTITY_KEY: np.array([r.machine_id for r in readings], dtype=object),
            TIMESTAMP: pd.DatetimeIndex(
                np.fromiter(((r.timestamp - _EPOCH) // _US for r in readings), np.int64, len(readings))
                .astype("datetime64[us]")
                .astype("datetime64[ns]")
            ).tz_localize("UTC"),
            **{
                name: np.fromiter((getattr(r, name) for r in readings), dtype=np.float64, count=len(readings))
                for name in SENSOR_NAMES
            },
        }
    )
    return frame[list(READING_COLUMNS)]


class Ingestor:
    """The live ingest path: aggregate, append offline, push online. Thread-safe (one lock).

    ``online=False`` or ``offline=False`` turn a side off (tests, benchmarks). With
    ``warm_start=True`` the aggregator first replays the tail file (``TAIL_FILE``): the raw readings
    of the windows still open when :func:`ingest_history` or the last :meth:`checkpoint` wrote it,
    so those windows keep their readings across a restart instead of starting over (a window
    restarted with only new readings would replace the complete one offline). The Ingestor
    checkpoints at most every ``checkpoint_every_s`` seconds during ingest and on :meth:`close`;
    readings after the last checkpoint are lost to their windows if the process dies.

    The online store is written on every batch. Changed windows for the offline store are queued
    and merged into the day files at most every ``offline_flush_s`` seconds (0: every batch), on
    :meth:`flush`, at a checkpoint and on :meth:`close`: a day-file merge costs about as much as the
    rest of a batch, and training reads windows that closed hours ago.
    """

    def __init__(
        self,
        store: FeatureStore | None,
        layout: DataLayout,
        *,
        online: bool = True,
        offline: bool = True,
        warm_start: bool = True,
        aggregator: WindowAggregator | None = None,
        checkpoint_every_s: float = 10.0,
        offline_flush_s: float = 5.0,
    ) -> None:
        if online and store is None:
            raise ValueError("an online push needs a feature store (or pass online=False)")
        self._store = store
        self._layout = layout
        self._online = online
        self._offline = offline
        self._aggregator = aggregator or WindowAggregator()
        self._lock = threading.Lock()
        self._checkpoint_every_s = checkpoint_every_s
        self._offline_flush_s = offline_flush_s
        self._pending: list[pd.DataFrame] = []
        self._last_flush = time.monotonic()
        self._relative = RelativeState(
            read_machine_types(layout), _recent_windows(layout) if warm_start else None
        )
        self.warmed_readings = self._warm() if warm_start else 0
        self._last_checkpoint = time.monotonic()

    def _warm(self) -> int:
        path = self._layout.telemetry_dir / TAIL_FILE
        if not path.is_file():
            return 0
        tail = pd.read_parquet(path)
        if len(tail) == 0:
            return 0
        tail = tail.sort_values(TIMESTAMP, kind="stable")
        self._aggregator.add(tail[list(READING_COLUMNS)])
        return len(tail)

    def checkpoint(self) -> Path:
        """Write the raw readings of the open windows to the tail file (atomically)."""
        with self._lock:
            return self._checkpoint()

    def _checkpoint(self) -> Path:
        self._flush()
        self._last_checkpoint = time.monotonic()
        return _write_tail(self._layout, self._aggregator.snapshot())

    def flush(self) -> int:
        """Merge the queued windows into the offline store now; returns how many were written."""
        with self._lock:
            return self._flush()

    def _flush(self) -> int:
        self._last_flush = time.monotonic()
        if not self._pending:
            return 0
        windows = latest_revisions(pd.concat(self._pending, ignore_index=True))
        self._pending = []
        write_offline(self._layout, windows)
        return len(windows)

    def close(self) -> None:
        """Flush and checkpoint; call on shutdown (the facade's lifespan end)."""
        self.checkpoint()

    @property
    def aggregator(self) -> WindowAggregator:
        return self._aggregator

    def ingest(self, batch: TelemetryBatch) -> IngestResult:
        """Ingest a batch that the contract already validated (the facade parsed it)."""
        return self._ingest(batch_frame(batch))

    def ingest_frame(self, readings: pd.DataFrame) -> IngestResult:
        """Ingest a readings frame from elsewhere (validated here; raises ``InvalidReadings``)."""
        return self._ingest(validate_frame(readings))

    def _ingest(self, frame: pd.DataFrame) -> IngestResult:
        with self._lock:
            update = self._aggregator.add(frame)
            # the changed windows and their peers of the same hours, with relative features
            windows = self._relative.update(update.windows)
            pushed = 0
            if self._online and len(windows) and self._store is not None:
                pushed = push_online(self._store, _newest_changed(windows, update))
            if self._offline and len(windows):
                self._pending.append(windows)
            now = time.monotonic()
            if now - self._last_checkpoint >= self._checkpoint_every_s:
                self._checkpoint()
            elif now - self._last_flush >= self._offline_flush_s:
                self._flush()
        counts = update.counts
        return IngestResult(
            received=counts.received,
            accepted=counts.accepted,
            duplicates=counts.duplicates,
            late=counts.late,
            windows_updated=len(update.windows),
            pushed_online=pushed,
            written_offline=len(windows) if self._offline else 0,
        )


class HistorySummary(BaseModel):
    """What :func:`ingest_history` wrote."""

    model_config = ConfigDict(frozen=True)

    received: int
    accepted: int
    duplicates: int
    late: int
    machines: int
    windows: int
    sparse_windows: int
    files: list[str]
    first_window_end: datetime | None
    last_window_end: datetime | None


def ingest_history(
    layout: DataLayout,
    readings: pd.DataFrame,
    progress: Progress | None = None,
    *,
    machines_per_group: int = 10,
    created_at: datetime | None = None,
) -> HistorySummary:
    """Validate, aggregate and write a whole history of readings to the offline store.

    Rows are taken in their order as arrival order (for lateness). Columns beyond the contract are
    dropped. Work is done per group of ``machines_per_group`` machines and reported as
    ``progress(readings done, readings total)``; the windows are then merged into the offline store
    in one write. Raises ``InvalidReadings``.
    """
    clean_all = validate_frame(readings, extra="drop")
    total = len(clean_all)
    if progress:
        progress(0, total)
    created = created_at or datetime.now(UTC)
    machines = pd.unique(clean_all[ENTITY_KEY])
    received = accepted = duplicates = late = 0
    parts: list[pd.DataFrame] = []
    tails: list[pd.DataFrame] = []
    done = 0
    for lo in range(0, len(machines), machines_per_group):
        group = set(machines[lo : lo + machines_per_group])
        part = clean_all.loc[clean_all[ENTITY_KEY].isin(group)]
        clean, counts = prepare_readings(part)
        parts.append(aggregate_windows(clean, created_at=created))
        received += counts.received
        accepted += counts.accepted
        duplicates += counts.duplicates
        late += counts.late
        tails.append(_tail(clean))
        done += len(part)
        if progress:
            progress(done, total)
    windows = pd.concat(parts, ignore_index=True) if parts else aggregate_windows(clean_all.iloc[:0])
    windows = with_relative(windows, read_machine_types(layout))[list(WINDOW_COLUMNS)]
    files = [str(p) for p in write_offline(layout, windows)]
    _write_tail(layout, pd.concat(tails, ignore_index=True) if tails else clean_all.iloc[:0])
    first = windows[EVENT_TIMESTAMP].min() if len(windows) else None
    last = windows[EVENT_TIMESTAMP].max() if len(windows) else None
    return HistorySummary(
        received=received,
        accepted=accepted,
        duplicates=duplicates,
        late=late,
        machines=len(machines),
        windows=len(windows),
        sparse_windows=int(windows[IS_SPARSE].sum()),
        files=files,
        first_window_end=first.to_pydatetime() if first is not None else None,
        last_window_end=last.to_pydatetime() if last is not None else None,
    )


def _newest_changed(windows: pd.DataFrame, update: WindowUpdate) -> pd.DataFrame:
    """Rows of ``windows`` that the batch changed and that are their machine's newest window (the
    online store keeps one row per machine; peers' rows revised offline are not re-pushed: the Redis
    store would skip them as not newer)."""
    latest = update.windows.loc[update.latest, [ENTITY_KEY, EVENT_TIMESTAMP]]
    return windows.merge(latest, on=[ENTITY_KEY, EVENT_TIMESTAMP], how="inner")


def _recent_windows(layout: DataLayout) -> pd.DataFrame | None:
    """The offline windows a restarted Ingestor needs for relative features: the last
    ``HISTORY_NEEDED`` (and a day) before the newest day file."""
    files = offline_files(layout)
    if not files:
        return None
    newest_day = pd.Timestamp(files[-1].stem.split("-", 1)[1], tz="UTC") + pd.Timedelta(days=1)
    try:
        return read_offline(
            layout, start=(newest_day - HISTORY_NEEDED - pd.Timedelta(days=2)).to_pydatetime()
        )
    except NoOfflineData:
        return None


def _tail(clean: pd.DataFrame) -> pd.DataFrame:
    """Readings that can still change a window once live ingest continues (per machine: the last
    ``LATE_GRACE + WINDOW`` before its newest reading)."""
    if len(clean) == 0:
        return clean
    newest = clean.groupby(ENTITY_KEY)[TIMESTAMP].transform("max")
    return clean.loc[clean[TIMESTAMP] >= newest - (LATE_GRACE + WINDOW)]


def _write_tail(layout: DataLayout, tail: pd.DataFrame) -> Path:
    layout.telemetry_dir.mkdir(parents=True, exist_ok=True)
    path = layout.telemetry_dir / TAIL_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    tail[list(READING_COLUMNS)].to_parquet(tmp, index=False)
    tmp.replace(path)
    return path
