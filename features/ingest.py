"""Ingest: validated readings -> hourly windows -> offline parquet and the online store.

- :class:`Ingestor` is the live path behind the facade's ``POST /ingest`` (and an Event Hubs consumer
  on Azure): a validated :class:`TelemetryBatch` goes through a :class:`WindowAggregator`; every
  window the batch changed is queued for the offline store, and each machine's newest changed window
  is pushed to the online store through the push source.
- :func:`ingest_history` (:mod:`features.history_ingest`, re-exported here) is the bulk path used by
  ``predmaint simulate``.

Durability of the live path (the local default; see docs/ingest.md): every accepted batch is
appended to a write-ahead log (:mod:`features.wal`) and the call returns only once an ``fsync``
covered it. A checkpoint merges the queued windows into the day files, writes the open windows'
raw readings to the tail file (:mod:`features.tail`), both fsynced, and only then drops the log
segments they cover. A starting Ingestor restores the tail and replays what is left of the log
through the same aggregation (the duplicate rule makes re-adding readings that did reach the tail
harmless), then checkpoints. A background thread merges queued windows every ``offline_flush_s``
and checkpoints every ``checkpoint_every_s``, so nothing waits for a later batch; :meth:`close`
(the facade's shutdown, SIGTERM) checkpoints once more.

Time sanity: a batch with a reading dated after the server's clock plus ``max_clock_skew`` is
rejected whole (``FutureReadings``, 422, naming each such reading's field), as a batch breaking the
contract is; and lateness is judged against the machine's newest reading capped at that same
horizon. Rejections are counted in :attr:`Ingestor.totals`.
"""

from __future__ import annotations

import logging
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
    MAX_CLOCK_SKEW,
    SENSOR_NAMES,
    TIMESTAMP,
    TelemetryBatch,
)
from core.errors import INVALID_INPUT
from core.layout import DataLayout
from features.aggregate import WindowAggregator, WindowUpdate
from features.errors import FrameError, InvalidReadings, NoOfflineData
from features.history_ingest import HistoryIngest, HistorySummary, ingest_history
from features.relative import HISTORY_NEEDED, RelativeState, read_machine_types
from features.store import (
    day_of_file,
    latest_revisions,
    offline_files,
    push_online,
    read_offline,
    write_offline,
)
from features.tail import TAIL_FILE, read_tail, write_tail
from features.validate import READING_COLUMNS, validate_frame
from features.wal import IngestWal, fsync_file

if TYPE_CHECKING:
    from feast import FeatureStore

WAL_DIR: Final = "ingest-wal"
"""Under ``layout.telemetry_dir``: the write-ahead log of the live path."""
FUTURE_RULE: Final = "not_after_server_clock_plus_skew"
"""The ``rule`` of a reading rejected as from the future."""

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_US: Final = timedelta(microseconds=1)
_EXAMPLES: Final = 5

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


class FutureReadings(InvalidReadings):
    """Readings dated after the server's clock plus the allowed skew (the whole batch is refused)."""

    status = 422
    code = INVALID_INPUT

    def __init__(self, errors: list[FrameError], count: int) -> None:
        self.count = count
        super().__init__(errors)


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
    """The live ingest path: aggregate, queue offline, push online. Thread-safe (one lock).

    ``online=False`` or ``offline=False`` turn a side off (tests, benchmarks). With
    ``warm_start=True`` the aggregator first restores the tail file (``TAIL_FILE``): the raw readings
    of the windows still open when :func:`ingest_history` or the last checkpoint wrote it, so those
    windows keep their readings across a restart instead of starting over (a window restarted with
    only new readings would replace the complete one offline). ``durable`` (default: on when both
    ``warm_start`` and ``offline`` are) adds the write-ahead log of the module docstring; without it
    readings after the last checkpoint are lost to their windows if the process dies.

    The online store is written on every batch. Changed windows for the offline store are queued
    and merged into the day files every ``offline_flush_s`` seconds (0: within the batch's call), at
    a checkpoint and on :meth:`close`: a day-file merge costs about as much as the rest of a batch,
    and training reads windows that closed hours ago. ``background=False`` leaves the timing to the
    callers of :meth:`flush` and :meth:`checkpoint` (and to later batches).
    """

    def __init__(
        self,
        store: FeatureStore | None,
        layout: DataLayout,
        *,
        online: bool = True,
        offline: bool = True,
        warm_start: bool = True,
        durable: bool | None = None,
        background: bool = True,
        aggregator: WindowAggregator | None = None,
        checkpoint_every_s: float = 10.0,
        offline_flush_s: float = 2.0,
        max_clock_skew: timedelta = MAX_CLOCK_SKEW,
        clock: Clock | None = None,
    ) -> None:
        if online and store is None:
            raise ValueError("an online push needs a feature store (or pass online=False)")
        durable = (warm_start and offline) if durable is None else durable
        if durable and not (warm_start and offline):
            raise ValueError("a write-ahead log needs warm_start and offline (replay continues the tail)")
        self._store = store
        self._layout = layout
        self._online = online
        self._offline = offline
        self._aggregator = aggregator or WindowAggregator()
        self._lock = threading.Lock()
        self._checkpoint_every_s = checkpoint_every_s
        self._offline_flush_s = offline_flush_s
        self._skew = max_clock_skew
        self._clock: Clock = clock or (lambda: datetime.now(UTC))
        self._pending: list[pd.DataFrame] = []
        self._dirty = False  # readings aggregated since the last checkpoint
        self._last_flush = time.monotonic()
        self.totals: dict[str, int] = {"accepted": 0, "duplicate": 0, "late": 0, "future": 0}
        """Readings by outcome since start (replayed ones not included); ``future``: rejected."""
        self._relative = RelativeState(
            read_machine_types(layout), _recent_windows(layout) if warm_start else None
        )
        self.warmed_readings = self._warm() if warm_start else 0
        self._wal = IngestWal(layout.telemetry_dir / WAL_DIR) if durable else None
        self.replayed_readings = self._replay()
        self._last_checkpoint = time.monotonic()
        self._stop = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        if background and (offline or durable):
            self._thread = threading.Thread(target=self._run, name="ingest-flush", daemon=True)
            self._thread.start()

    def _warm(self) -> int:
        tail = read_tail(self._layout)
        if tail is None:
            return 0
        self._aggregator.add(tail)
        return len(tail)

    def _replay(self) -> int:
        """Re-add what the log holds beyond the tail; checkpoint so the next start need not."""
        if self._wal is None:
            return 0
        replayed = 0
        newest: list[pd.DataFrame] = []
        for frame in self._wal.replay():
            update, windows = self._apply(frame)
            replayed += len(frame)
            if len(windows):
                newest.append(_newest_changed(windows, update))
        if self._online and newest and self._store is not None:
            try:  # the store catches up with the next batch of each machine if this fails
                push_online(self._store, latest_revisions(pd.concat(newest, ignore_index=True)))
            except Exception as exc:
                log.warning("replayed windows not pushed online: %s", exc)
        if replayed or len(self._wal.segments()) > 1:
            self._checkpoint()
        if replayed:
            log.info("ingest: replayed %d readings from the write-ahead log", replayed)
        return replayed

    def _run(self) -> None:
        periods = [p for p in (self._offline_flush_s, self._checkpoint_every_s) if p > 0]
        tick = min(periods) / 2 if periods else 1.0
        while not self._stop.wait(tick):
            try:
                with self._lock:
                    now = time.monotonic()
                    if self._dirty and now - self._last_checkpoint >= self._checkpoint_every_s:
                        self._checkpoint()
                    elif self._pending and now - self._last_flush >= self._offline_flush_s:
                        self._flush()
            except Exception:  # disk full, a day file in use: retried on the next tick
                log.exception("ingest: background flush failed")

    def checkpoint(self) -> Path:
        """Merge the queued windows, write the open windows' raw readings to the tail file, and drop
        the write-ahead log they cover (each step durable before the next)."""
        with self._lock:
            return self._checkpoint()

    def _checkpoint(self) -> Path:
        keep_from = self._wal.rotate() if self._wal is not None else None
        self._flush()
        path = write_tail(self._layout, self._aggregator.open_readings(), durable=self._wal is not None)
        if self._wal is not None and keep_from is not None:
            self._wal.discard(keep_from)
        self._dirty = False
        self._last_checkpoint = time.monotonic()
        return path

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
        for path in write_offline(self._layout, windows):
            if self._wal is not None:
                fsync_file(path)
        return len(windows)

    def close(self) -> None:
        """Stop the background thread, checkpoint, release the log; call on shutdown (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            if self._closed or (self._wal is None and not self._offline):
                return
            self._checkpoint()
            if self._wal is not None:
                self._wal.close()
            self._closed = True

    @property
    def aggregator(self) -> WindowAggregator:
        return self._aggregator

    @property
    def wal(self) -> IngestWal | None:
        return self._wal

    def ingest(self, batch: TelemetryBatch) -> IngestResult:
        """Ingest a batch that the contract already validated (the facade parsed it)."""
        return self._ingest(batch_frame(batch))

    def ingest_frame(self, readings: pd.DataFrame) -> IngestResult:
        """Ingest a readings frame from elsewhere (validated here; raises ``InvalidReadings``)."""
        return self._ingest(validate_frame(readings))

    def _horizon(self) -> datetime:
        return self._clock() + self._skew

    def _reject_future(self, frame: pd.DataFrame, horizon: datetime) -> None:
        ts = pd.DatetimeIndex(frame[TIMESTAMP])
        ahead = np.flatnonzero(ts > pd.Timestamp(horizon))
        if not len(ahead):
            return
        self.totals["future"] += len(ahead)
        skew = int(self._skew.total_seconds())
        errors = [
            FrameError(
                f"readings.{i}.timestamp",
                FUTURE_RULE,
                f"{ts[i].isoformat()} is more than {skew} s after the server's clock "
                f"({(horizon - self._skew).isoformat()}); fix the device clock",
            )
            for i in ahead[:_EXAMPLES]
        ]
        if len(ahead) > _EXAMPLES:
            errors.append(
                FrameError("readings", FUTURE_RULE, f"{len(ahead)} readings in all are after the horizon")
            )
        raise FutureReadings(errors, len(ahead))

    def _apply(
        self, frame: pd.DataFrame, horizon: datetime | None = None
    ) -> tuple[WindowUpdate, pd.DataFrame]:
        """Aggregate and queue offline (lock held); the changed windows with relative features."""
        update = self._aggregator.add(frame, horizon=horizon or self._horizon())
        # the changed windows and their peers of the same hours, with relative features
        windows = self._relative.update(update.windows)
        if self._offline and len(windows):
            self._pending.append(windows)
        self._dirty = True
        return update, windows

    def _ingest(self, frame: pd.DataFrame) -> IngestResult:
        horizon = self._horizon()
        self._reject_future(frame, horizon)
        with self._lock:
            # log first: a batch is replayed exactly as it was aggregated, in the same order
            position = self._wal.append(frame) if self._wal is not None else None
            update, windows = self._apply(frame, horizon)
            pushed = 0
            if self._online and len(windows) and self._store is not None:
                pushed = push_online(self._store, _newest_changed(windows, update))
            if self._thread is None or self._offline_flush_s == 0:
                now = time.monotonic()
                if now - self._last_checkpoint >= self._checkpoint_every_s:
                    self._checkpoint()
                elif now - self._last_flush >= self._offline_flush_s:
                    self._flush()
            counts = update.counts
            self.totals["accepted"] += counts.accepted
            self.totals["duplicate"] += counts.duplicates
            self.totals["late"] += counts.late
        if position is not None and self._wal is not None:
            self._wal.sync(position)  # the answer waits for the fsync (group commit across threads)
        return IngestResult(
            received=counts.received,
            accepted=counts.accepted,
            duplicates=counts.duplicates,
            late=counts.late,
            windows_updated=len(update.windows),
            pushed_online=pushed,
            written_offline=len(windows) if self._offline else 0,
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
    newest_day = pd.Timestamp(day_of_file(files[-1].name), tz="UTC") + pd.Timedelta(days=1)
    try:
        return read_offline(
            layout, start=(newest_day - HISTORY_NEEDED - pd.Timedelta(days=2)).to_pydatetime()
        )
    except NoOfflineData:
        return None


__all__ = [
    "TAIL_FILE",
    "WAL_DIR",
    "FutureReadings",
    "HistoryIngest",
    "HistorySummary",
    "IngestResult",
    "Ingestor",
    "batch_frame",
    "ingest_history",
]
