"""Hourly window aggregation of readings into the features of ``sensor_stats_view``.

Two paths with one set of rules, so that a history file and a live stream give the same windows:

- :func:`aggregate_windows` (bulk, vectorised) for a whole frame of readings;
- :class:`WindowAggregator` (streaming) for batches as they arrive; it returns the windows a batch
  changed, with their complete current values.

Rules (both paths):

- A window covers ``[window_start, window_start + WINDOW)`` aligned to the epoch (whole hours);
  its ``event_timestamp`` is the window END, so a point-in-time join never sees a window before all
  its readings could have arrived.
- Arrival order matters for lateness only: a reading more than ``LATE_GRACE`` behind the newest
  reading seen so far for its machine is rejected and counted; otherwise it updates its window, even
  one that was already emitted. (In bulk, row order is the arrival order.)
  Live ingest caps that newest reading at the wall clock plus ``MAX_CLOCK_SKEW`` (``horizon``), so
  a clock that ran ahead once cannot make every later real reading late.
- A duplicate ``(machine_id, timestamp)`` counts once; the first arrival wins.
- ``std`` is the population standard deviation (``ddof=0``): it is defined for a single reading
  (0.0), so a sparse window still has finite features, and it is what both paths compute.
- A window with fewer than ``MIN_READINGS_PER_WINDOW`` readings has ``is_sparse=True``.
- ``created_timestamp`` is when the window's values were computed; a later revision of the same
  window has a later ``created_timestamp``, which is how Feast's point-in-time join and
  materialisation pick the newest revision among rows with the same ``event_timestamp``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa

from core.contract import (
    BASELINE_DAYS_FEATURE,
    BASELINE_IS_COLD,
    CREATED_TIMESTAMP,
    DAY_MEAN_FEATURES,
    ENTITY_KEY,
    EVENT_TIMESTAMP,
    IS_SPARSE,
    LATE_GRACE,
    MIN_READINGS_PER_WINDOW,
    NS_PER_S,
    READING_COUNT,
    RELATIVE_FEATURES,
    SENSOR_NAMES,
    STAT_FEATURES,
    TIMESTAMP,
    VIEW_FEATURES,
    WINDOW,
)

WINDOW_START: Final = "window_start"
WINDOW_COLUMNS: Final[tuple[str, ...]] = (
    ENTITY_KEY,
    EVENT_TIMESTAMP,
    WINDOW_START,
    *VIEW_FEATURES,
    CREATED_TIMESTAMP,
)
"""Columns of a windows frame (the offline store's rows), in order."""
_FLEET_COLUMNS: Final = frozenset(
    (
        *(n for n, _, _ in RELATIVE_FEATURES),
        *(n for n, _ in DAY_MEAN_FEATURES),
        BASELINE_DAYS_FEATURE,
        BASELINE_IS_COLD,
    )
)
AGGREGATE_COLUMNS: Final[tuple[str, ...]] = tuple(c for c in WINDOW_COLUMNS if c not in _FLEET_COLUMNS)
"""Columns of one machine's own aggregates: ``WINDOW_COLUMNS`` without the relative features,
which need the fleet and the history (:mod:`features.relative` adds them)."""
STD_DDOF: Final = 0
"""Degrees of freedom of every ``std`` feature (population standard deviation)."""


def _td_ns(td: timedelta) -> int:
    return int(td.total_seconds() * NS_PER_S)


def _ts_ns(col: pd.Series) -> np.ndarray:
    """Nanoseconds since the epoch (UTC) of a tz-aware datetime column, whatever its unit."""
    return pd.DatetimeIndex(col).tz_convert("UTC").as_unit("ns").asi8


def _to_utc(ns: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(ns.astype("datetime64[ns]")).tz_localize("UTC")


def _late_mask(mids: pd.Series, ts: np.ndarray, prior_newest: np.ndarray, grace_ns: int) -> np.ndarray:
    """True where a reading is more than ``grace`` behind the newest reading seen for its machine
    up to and including itself (``prior_newest``: newest before this frame, or int64 min)."""
    running = pd.Series(ts, index=mids.index).groupby(mids.to_numpy(), sort=False).cummax().to_numpy()
    newest = np.maximum(running, prior_newest)
    return np.asarray(ts < newest - grace_ns, dtype=bool)


def empty_windows(columns: tuple[str, ...] = WINDOW_COLUMNS) -> pd.DataFrame:
    """A windows frame with no rows and the right dtypes."""
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
    frame[ENTITY_KEY] = frame[ENTITY_KEY].astype(object)
    for c in (EVENT_TIMESTAMP, WINDOW_START, CREATED_TIMESTAMP):
        frame[c] = pd.Series(dtype="datetime64[ns, UTC]")
    frame[READING_COUNT] = frame[READING_COUNT].astype("int64")
    for flag in (IS_SPARSE, BASELINE_IS_COLD):
        if flag in frame:
            frame[flag] = frame[flag].astype(bool)
    return frame


@dataclass(frozen=True)
class ReadingCounts:
    """What happened to a frame or batch of readings."""

    received: int
    accepted: int
    duplicates: int
    late: int


def prepare_readings(
    readings: pd.DataFrame, *, late_grace: timedelta = LATE_GRACE
) -> tuple[pd.DataFrame, ReadingCounts]:
    """Drop late readings (by row order) and duplicates (first wins); the bulk path's first step.

    ``readings`` must already satisfy the contract (see :func:`features.validate.validate_frame`).
    """
    ts = _ts_ns(readings[TIMESTAMP])
    mids = readings[ENTITY_KEY]
    late = _late_mask(mids, ts, np.full(len(ts), np.iinfo(np.int64).min, np.int64), _td_ns(late_grace))
    kept = readings.loc[~late]
    dup = kept.duplicated([ENTITY_KEY, TIMESTAMP], keep="first").to_numpy()
    clean = kept.loc[~dup]
    counts = ReadingCounts(
        received=len(readings), accepted=len(clean), duplicates=int(dup.sum()), late=int(late.sum())
    )
    return clean, counts


def aggregate_windows(
    readings: pd.DataFrame,
    *,
    created_at: datetime | None = None,
    late_grace: timedelta = LATE_GRACE,
    min_readings: int = MIN_READINGS_PER_WINDOW,
) -> pd.DataFrame:
    """Aggregate a frame of readings into hourly windows (bulk, vectorised).

    ``readings`` has the contract columns (``machine_id``, tz-aware ``timestamp``, the sensors) and
    is assumed valid. Returns one row per (machine, window) with ``AGGREGATE_COLUMNS``, sorted by
    machine and event time. ``created_at`` (default: now) fills ``created_timestamp``.
    """
    if len(readings) == 0:
        return empty_windows(AGGREGATE_COLUMNS)
    clean, _ = prepare_readings(readings, late_grace=late_grace)
    return aggregate_clean(clean, created_at=created_at, min_readings=min_readings)


def aggregate_clean(
    clean: pd.DataFrame, *, created_at: datetime | None = None, min_readings: int = MIN_READINGS_PER_WINDOW
) -> pd.DataFrame:
    """:func:`aggregate_windows` of readings that :func:`prepare_readings` already cleaned."""
    window_ns = _td_ns(WINDOW)
    ts = _ts_ns(clean[TIMESTAMP])
    start_ns = ts - np.mod(ts, window_ns)
    frame = pd.DataFrame(
        {ENTITY_KEY: clean[ENTITY_KEY].to_numpy(), WINDOW_START: start_ns}
        | {name: clean[name].to_numpy(dtype=np.float64) for name in SENSOR_NAMES}
    )
    grouped = frame.groupby([ENTITY_KEY, WINDOW_START], sort=True)
    out = pd.DataFrame(index=grouped.size().index)
    for name, column, stat in STAT_FEATURES:
        g = grouped[column]
        if stat == "mean":
            out[name] = g.mean()
        elif stat == "std":
            out[name] = g.std(ddof=STD_DDOF)
        elif stat == "max":
            out[name] = g.max()
        else:  # pragma: no cover - the contract lists only these
            raise ValueError(f"unknown statistic {stat!r} for {name}")
    out[READING_COUNT] = grouped.size().astype("int64")
    out = out.reset_index()
    starts = out[WINDOW_START].to_numpy(dtype=np.int64)
    out[WINDOW_START] = _to_utc(starts)
    out[EVENT_TIMESTAMP] = _to_utc(starts + window_ns)
    out[IS_SPARSE] = out[READING_COUNT] < min_readings
    out[CREATED_TIMESTAMP] = _created(created_at)
    return out[list(AGGREGATE_COLUMNS)]


@dataclass(frozen=True)
class WindowUpdate:
    """The outcome of one :meth:`WindowAggregator.add`.

    ``windows`` holds every window the batch changed, with its full current values
    (``AGGREGATE_COLUMNS``). ``latest`` marks, per row, whether the window is its machine's newest
    window: only those belong in the online store (it keeps one row per machine).
    """

    windows: pd.DataFrame
    latest: np.ndarray
    counts: ReadingCounts
    evicted: int = 0


class WindowAggregator:
    """Streaming hourly aggregation with late readings, duplicates and sparse windows.

    State: the newest reading time per machine and the raw readings of every window that can still
    change (its end is less than ``late_grace`` behind its machine's newest reading), held in one
    columnar frame. Each :meth:`add` is vectorised over that frame and the batch: drop late
    readings, drop duplicates (first arrival wins), then recompute the changed windows in one
    group-by. Older windows are evicted, so memory stays bounded by machines x (grace / window + 1)
    windows. Not thread-safe: one aggregator per ingest worker (the Ingestor holds a lock).
    """

    def __init__(
        self, *, late_grace: timedelta = LATE_GRACE, min_readings: int = MIN_READINGS_PER_WINDOW
    ) -> None:
        self._grace_ns = _td_ns(late_grace)
        self._window_ns = _td_ns(WINDOW)
        self._min_readings = min_readings
        self._codes: dict[str, int] = {}
        self._names: list[str] = []
        self._int_min = int(np.iinfo(np.int64).min)
        self._newest = np.zeros(0, dtype=np.int64)  # newest reading per machine code
        self._newest_start = np.zeros(0, dtype=np.int64)  # start of the newest window per code
        self._state = pd.DataFrame(
            {"code": np.zeros(0, np.int64), "ts": np.zeros(0, np.int64), "start": np.zeros(0, np.int64)}
            | {name: np.zeros(0, np.float64) for name in SENSOR_NAMES}
        )

    @property
    def open_windows(self) -> int:
        """Windows held in memory (they can still receive late readings)."""
        return int(self._state.groupby(["code", "start"]).ngroups) if len(self._state) else 0

    def open_readings(self) -> pa.Table:
        """The raw readings of every open window (contract columns, time order): replaying them
        into a fresh aggregator restores its state (see :mod:`features.tail`). An Arrow table whose
        machine ids are the aggregator's codes into its names (dictionary-encoded), so writing it
        builds no Python object per reading."""
        state = self._state
        order = np.argsort(state["ts"].to_numpy(), kind="stable")
        ids = pa.DictionaryArray.from_arrays(
            pa.array(state["code"].to_numpy()[order].astype(np.int32)), pa.array(self._names, pa.string())
        )
        columns = {
            ENTITY_KEY: ids,
            TIMESTAMP: pa.array(state["ts"].to_numpy()[order], pa.timestamp("ns", tz="UTC")),
        } | {name: pa.array(state[name].to_numpy()[order]) for name in SENSOR_NAMES}
        return pa.table(columns)

    def _code(self, mids: np.ndarray) -> np.ndarray:
        codes = self._codes
        out = np.fromiter((codes.get(m, -1) for m in mids), dtype=np.int64, count=len(mids))
        if (out < 0).any():
            for i in np.flatnonzero(out < 0):
                m = str(mids[i])
                code = codes.get(m)
                if code is None:
                    code = codes[m] = len(self._names)
                    self._names.append(m)
                out[i] = code
            grow = len(self._names) - len(self._newest)
            self._newest = np.concatenate([self._newest, np.full(grow, self._int_min, np.int64)])
            self._newest_start = np.concatenate([self._newest_start, np.full(grow, self._int_min, np.int64)])
        return out

    def add(
        self, readings: pd.DataFrame, *, created_at: datetime | None = None, horizon: datetime | None = None
    ) -> WindowUpdate:
        """Add a batch of valid readings (contract columns, in arrival order).

        ``horizon`` (live ingest: now plus the clock skew) caps each machine's newest reading before
        lateness and eviction are judged, so state that ran ahead of the clock (a restored tail with
        a reading from 2199) cannot make real readings late; the caller rejects readings beyond it."""
        if horizon is not None:
            self._cap(int(pd.Timestamp(horizon).tz_convert("UTC").as_unit("ns").value))
        n = len(readings)
        if n == 0:
            return WindowUpdate(
                empty_windows(AGGREGATE_COLUMNS), np.zeros(0, bool), ReadingCounts(0, 0, 0, 0)
            )
        mids = readings[ENTITY_KEY].to_numpy(dtype=object)
        codes = self._code(mids)
        ts = _ts_ns(readings[TIMESTAMP])
        late = _late_mask(pd.Series(codes), ts, self._newest[codes], self._grace_ns)
        keep = ~late
        k_codes, k_ts = codes[keep], ts[keep]
        batch = pd.DataFrame(
            {"code": k_codes, "ts": k_ts, "start": k_ts - np.mod(k_ts, self._window_ns)}
            | {name: readings[name].to_numpy(dtype=np.float64)[keep] for name in SENSOR_NAMES}
        )
        state = self._state
        combined = pd.concat([state, batch], ignore_index=True) if len(state) else batch
        dup = combined.duplicated(["code", "ts"], keep="first").to_numpy()
        new_mask = ~dup[len(state) :]
        duplicates = int((~new_mask).sum())
        state = combined.loc[~dup] if dup.any() else combined
        added = batch.loc[new_mask]
        if len(k_ts):
            np.maximum.at(self._newest, k_codes, k_ts)
        if len(added):
            np.maximum.at(self._newest_start, added["code"].to_numpy(), added["start"].to_numpy())
        counts = ReadingCounts(received=n, accepted=len(added), duplicates=duplicates, late=int(late.sum()))

        frame, latest = self._changed(state, added, created_at)
        # evict windows no reading can reach any more: end <= newest - grace
        reach = self._newest[state["code"].to_numpy()] - self._grace_ns
        alive = (state["start"].to_numpy() + self._window_ns) > reach
        evicted_rows = state.loc[~alive]
        evicted = int(evicted_rows.groupby(["code", "start"]).ngroups) if len(evicted_rows) else 0
        self._state = state.loc[alive].reset_index(drop=True) if not alive.all() else state
        return WindowUpdate(frame, latest, counts, evicted)

    def _cap(self, horizon_ns: int) -> None:
        np.minimum(self._newest, horizon_ns, out=self._newest)
        newest_start = horizon_ns - horizon_ns % self._window_ns
        np.minimum(self._newest_start, newest_start, out=self._newest_start)

    def _changed(
        self, state: pd.DataFrame, added: pd.DataFrame, created_at: datetime | None
    ) -> tuple[pd.DataFrame, np.ndarray]:
        """Full current values of the windows that ``added`` touched, and their latest flags."""
        if len(added) == 0:
            return empty_windows(AGGREGATE_COLUMNS), np.zeros(0, bool)
        hours = np.int64(self._window_ns)
        key_state = state["code"].to_numpy() * (1 << 32) + state["start"].to_numpy() // hours
        key_added = np.unique(added["code"].to_numpy() * (1 << 32) + added["start"].to_numpy() // hours)
        selected = np.flatnonzero(np.isin(key_state, key_added))
        # group with numpy: sort by window key, reduce each run (much cheaper than a pandas group-by
        # for the few hundred windows a batch touches); std is two-pass, as in the bulk path
        order = selected[np.argsort(key_state[selected], kind="stable")]
        keys = key_state[order]
        first = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        counts = np.diff(np.r_[first, len(keys)])
        stats: dict[str, np.ndarray] = {}
        for column in SENSOR_NAMES:
            x = state[column].to_numpy()[order]
            mean = np.add.reduceat(x, first) / counts
            var = np.add.reduceat((x - np.repeat(mean, counts)) ** 2, first) / (counts - STD_DDOF)
            stats[f"{column}/mean"] = mean
            stats[f"{column}/std"] = np.sqrt(var)
            stats[f"{column}/max"] = np.maximum.reduceat(x, first)
        codes = state["code"].to_numpy()[order][first]
        starts = state["start"].to_numpy(dtype=np.int64)[order][first]
        out = pd.DataFrame(
            {
                ENTITY_KEY: np.asarray(self._names, dtype=object)[codes],
                EVENT_TIMESTAMP: _to_utc(starts + self._window_ns),
                WINDOW_START: _to_utc(starts),
                **{name: stats[f"{column}/{stat}"] for name, column, stat in STAT_FEATURES},
                READING_COUNT: counts.astype(np.int64),
                IS_SPARSE: counts < self._min_readings,
                CREATED_TIMESTAMP: pd.DatetimeIndex([_created(created_at)] * len(codes)),
            }
        )
        latest = starts == self._newest_start[codes]
        return out, latest


def _created(created_at: datetime | None) -> pd.Timestamp:
    return pd.Timestamp(created_at or datetime.now(UTC)).tz_convert("UTC").as_unit("ns")
