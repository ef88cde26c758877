"""The bulk path: a history of readings -> hourly windows in the offline store, in bounded memory.

:class:`HistoryIngest` takes the history as chunks in time order, each covering whole windows after
the previous chunk's (``predmaint simulate`` hands it a few hours or a day of the whole fleet at a
time, see :mod:`simulator.history`). Every chunk is cleaned (late readings and duplicates, the rules
of :mod:`features.aggregate`), aggregated, given its relative features by a
:class:`~features.relative.RelativeState` (which keeps only the baseline days it needs) and merged
into the day files at once, so memory is bounded by one chunk plus the baseline, not by the history.
Because a chunk holds every machine's complete windows of its hours, its rows equal what one bulk
pass over the whole history gives (:func:`features.relative.with_relative`).

:func:`ingest_history` is the one-call form for a frame (or an iterable of chunks). It also writes
the tail file, so a live Ingestor continues the windows the history left open.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from core.allocator import release_free_memory
from core.contract import (
    DAY_NS,
    ENTITY_KEY,
    EVENT_TIMESTAMP,
    IS_SPARSE,
    LATE_GRACE,
    SENSOR_NAMES,
    TIMESTAMP,
    WINDOW,
    WINDOW_NS,
)
from core.layout import DataLayout
from features.aggregate import WINDOW_COLUMNS, aggregate_clean, prepare_readings
from features.offline import DayFileAppender
from features.relative import RelativeState, read_machine_types
from features.tail import write_tail
from features.validate import validate_frame

Progress = Callable[[int, int], None]
"""``progress(done, total)``."""


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


class HistoryIngest:
    """Streaming bulk ingest; :meth:`add` chunks in time order, then :meth:`finish`.

    A chunk must not reach back into a window an earlier chunk held (``ValueError`` otherwise):
    those windows are already written. Raises ``InvalidReadings`` for readings that break the
    contract (columns beyond it are dropped).
    """

    def __init__(self, layout: DataLayout, *, created_at: datetime | None = None) -> None:
        self._layout = layout
        self._created = created_at or datetime.now(UTC)
        # every chunk holds whole hours of every machine: no rows need holding for revisions
        self._relative = RelativeState(read_machine_types(layout), rows_kept=timedelta(0))
        self._boundary_ns: int | None = None  # end of the last window written
        self._received = self._accepted = self._duplicates = self._late = 0
        self._machines: set[str] = set()
        self._windows = self._sparse = 0
        self._files: set[str] = set()
        self._first: pd.Timestamp | None = None
        self._last: pd.Timestamp | None = None
        self._tail = _Tail()
        self._days = DayFileAppender(layout)

    def add(self, readings: pd.DataFrame) -> int:
        """Clean, aggregate and write one chunk (rows in arrival order); returns windows written."""
        if len(readings) == 0:
            return 0
        clean, counts = prepare_readings(validate_frame(readings, extra="drop"))
        self._received += counts.received
        self._accepted += counts.accepted
        self._duplicates += counts.duplicates
        self._late += counts.late
        if len(clean) == 0:
            return 0
        ts = pd.DatetimeIndex(clean[TIMESTAMP]).as_unit("ns").asi8
        lo, hi = int(ts.min()), int(ts.max())
        if self._boundary_ns is not None and lo < self._boundary_ns:
            raise ValueError(
                "history chunks must come in time order, each starting after the windows of the last "
                f"(a reading at {pd.Timestamp(lo, tz='UTC')} reaches back before "
                f"{pd.Timestamp(self._boundary_ns, tz='UTC')})"
            )
        self._boundary_ns = hi - hi % WINDOW_NS + WINDOW_NS
        self._machines.update(pd.unique(clean[ENTITY_KEY]).tolist())
        windows = self._relative.update(aggregate_clean(clean, created_at=self._created))
        windows = windows[list(WINDOW_COLUMNS)]
        self._files.update(str(p) for p in self._days.write(windows))
        self._windows += len(windows)
        self._sparse += int(windows[IS_SPARSE].sum())
        first, last = windows[EVENT_TIMESTAMP].min(), windows[EVENT_TIMESTAMP].max()
        self._first = first if self._first is None else min(self._first, first)
        self._last = last if self._last is None else max(self._last, last)
        self._tail.add(clean)
        return len(windows)

    def finish(self) -> HistorySummary:
        """Put the last day file in place, write the tail file and say what was written."""
        self._days.close()
        tail = self._tail.frame()
        write_tail(self._layout, tail if len(tail) else _no_readings())
        return HistorySummary(
            received=self._received,
            accepted=self._accepted,
            duplicates=self._duplicates,
            late=self._late,
            machines=len(self._machines),
            windows=self._windows,
            sparse_windows=self._sparse,
            files=sorted(self._files),
            first_window_end=self._first.to_pydatetime() if self._first is not None else None,
            last_window_end=self._last.to_pydatetime() if self._last is not None else None,
        )


class _Tail:
    """The readings that can still change a window once live ingest continues (what
    :func:`~features.tail.tail_of` keeps of the whole history), gathered chunk by chunk as compact
    arrays (machine code, time, sensors: 36 bytes a reading; 2,000 machines x 3 h is 13 MB), rows
    too old for their machine's newest reading dropped as each chunk arrives."""

    _REACH: Final = int((LATE_GRACE + WINDOW).total_seconds() * 1e9)

    def __init__(self) -> None:
        self._codes: dict[str, int] = {}
        self._newest = np.zeros(0, np.int64)
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # codes, ns, (sensors, n)

    def add(self, clean: pd.DataFrame) -> None:
        names, uniques = pd.factorize(clean[ENTITY_KEY], sort=False)
        for name in uniques:
            self._codes.setdefault(str(name), len(self._codes))
        codes = np.array([self._codes[str(n)] for n in uniques], dtype=np.int32)[names]
        ts = pd.DatetimeIndex(clean[TIMESTAMP]).as_unit("ns").asi8
        if len(self._codes) > len(self._newest):
            grow = len(self._codes) - len(self._newest)
            self._newest = np.concatenate([self._newest, np.full(grow, np.iinfo(np.int64).min)])
        np.maximum.at(self._newest, codes, ts)
        values = np.stack([clean[name].to_numpy(np.float64) for name in SENSOR_NAMES])
        kept = []
        for c, t, v in [*self._parts, (codes, ts, values)]:
            alive = t >= self._newest[c] - self._REACH
            if alive.all():
                kept.append((c, t, v))
            elif alive.any():
                kept.append((c[alive], t[alive], v[:, alive]))
        self._parts = kept

    def frame(self) -> pd.DataFrame:
        """The tail's readings (rows in arrival order)."""
        if not self._parts:
            return _no_readings()
        names = np.array(list(self._codes), dtype=object)
        values = np.concatenate([v for _, _, v in self._parts], axis=1)
        return pd.DataFrame(
            {
                ENTITY_KEY: names[np.concatenate([c for c, _, _ in self._parts])],
                TIMESTAMP: pd.to_datetime(
                    np.concatenate([t for _, t, _ in self._parts]), unit="ns", utc=True
                ),
            }
            | {name: values[i] for i, name in enumerate(SENSOR_NAMES)}
        )


def _no_readings() -> pd.DataFrame:
    from features.validate import READING_COLUMNS

    return pd.DataFrame({c: pd.Series(dtype=object) for c in READING_COLUMNS}).astype(
        {TIMESTAMP: "datetime64[ns, UTC]"}
    )


def day_chunks(clean: pd.DataFrame) -> Iterable[pd.DataFrame]:
    """A frame cleaned by :func:`~features.aggregate.prepare_readings` over the whole of it (its row
    order is the arrival order) as :class:`HistoryIngest` chunks: split by the UTC day of each
    reading's window, oldest first (every later chunk starts after the windows of the last)."""
    if len(clean) == 0:
        return
    ts = pd.DatetimeIndex(clean[TIMESTAMP]).as_unit("ns").asi8
    day = (ts - ts % WINDOW_NS) // DAY_NS
    for d in np.unique(day):
        yield clean.loc[day == d]


def ingest_history(
    layout: DataLayout,
    readings: pd.DataFrame | Iterable[pd.DataFrame],
    progress: Progress | None = None,
    *,
    created_at: datetime | None = None,
    total: int = 0,
) -> HistorySummary:
    """Validate, aggregate and write a history of readings to the offline store (and the tail file).

    ``readings`` is one frame (rows in arrival order; split with :func:`day_chunks`) or an iterable
    of chunks in time order (see :class:`HistoryIngest`). ``progress(readings done, readings total)``
    after each chunk (``total``: the frame's length, or what the caller passes for an iterable).
    Raises ``InvalidReadings``.
    """
    writer = HistoryIngest(layout, created_at=created_at)
    if isinstance(readings, pd.DataFrame):
        total = len(readings)
        clean, counts = prepare_readings(validate_frame(readings, extra="drop"))
        chunks: Iterable[pd.DataFrame] = day_chunks(clean)
    else:
        counts, chunks = None, readings
    done = 0
    if progress:
        progress(0, total)
    for chunk in chunks:
        writer.add(chunk)
        done += len(chunk)
        del chunk
        release_free_memory()
        if progress:
            progress(done, total)
    summary = writer.finish()
    if counts is not None:  # the frame's late readings and duplicates were dropped before chunking
        summary = summary.model_copy(
            update={"received": counts.received, "duplicates": counts.duplicates, "late": counts.late}
        )
    if progress and total:
        progress(total, total)
    return summary


__all__ = ["HistoryIngest", "HistorySummary", "day_chunks", "ingest_history"]
