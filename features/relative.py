"""Machine- and peer-relative features of hourly windows (``RELATIVE_FEATURES`` in the contract).

One function, :func:`relative_features`, computes them for the bulk path (a whole history) and the
streaming path (:class:`RelativeState`, which keeps the last ``BASELINE_DAYS`` days of windows and
calls the same function for the hours a batch touched), so both give the same values.

For a window of machine ``m`` ending at hour ``h`` and a statistic ``x`` (e.g. the hour's mean
temperature):

- **own**: ``x`` against ``m``'s own windows ending at ``h - 24 h, ..., h - BASELINE_DAYS x 24 h``
  (same hour of day: the load cycle is daily). Only windows strictly before ``h`` are used, so the
  value is point-in-time correct. With fewer than ``MIN_BASELINE_DAYS`` such windows the machine is
  cold and ``x`` is compared with its type's baseline (every window of its type at those hours),
  shifted by the machine's own offset from it on the days it has, limited to ``COLD_OFFSET_LIMIT``
  of the type's robust spread, and ``baseline_is_cold`` is set; ``baseline_days`` says how many own
  days there were. Before any history exists at all, the type's windows of the same hour stand in.
- **day means** (``DAY_MEAN_FEATURES``): each hourly feature averaged over the machine's last
  ``DAY_MEAN_HOURS`` hours, restarting after a stop of ``DAY_MEAN_RESTART_GAP_H`` hours or more
  (a repair), so that the hours before a stop do not carry over.
- **peers**: against the windows of ``m``'s machine type ending at ``h`` (the same hour, which
  holds readings before ``h`` only). A fleet-wide shift moves the median with it and cancels; one
  machine's fault does not move the median.

Deviations are robust: ``(x - median) / max(MAD_TO_SIGMA x MAD, RELATIVE_SCALE_FLOOR x |median|)``,
clipped to ``+-RELATIVE_LIMIT``; for vibration and temperature only the excess counts (floored at 0,
see ``EXCESS_ONLY_BASES``). The peer feature compares the machine's excess over its own baseline
(``x`` minus the baseline median) with the same excess of its type's machines in that hour: weather
and fleet-wide shifts move every machine's excess together and cancel. Sparse windows are scored
but never part of a baseline or of the peer statistics. Machine types come from the machine
registry (:func:`read_machine_types`); a machine missing from it is of type
``UNKNOWN_MACHINE_TYPE`` (its peers are the other unknowns).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from core.contract import (
    BASELINE_DAYS,
    BASELINE_DAYS_FEATURE,
    BASELINE_IS_COLD,
    COLD_OFFSET_LIMIT,
    CREATED_TIMESTAMP,
    DAY_MEAN_FEATURES,
    DAY_MEAN_HOURS,
    DAY_MEAN_RESTART_GAP_H,
    ENTITY_KEY,
    EVENT_TIMESTAMP,
    EXCESS_ONLY_BASES,
    IS_SPARSE,
    MACHINE_TYPE,
    MAD_TO_SIGMA,
    MIN_BASELINE_DAYS,
    OWN,
    RELATIVE_FEATURES,
    RELATIVE_LIMIT,
    RELATIVE_SCALE_FLOOR,
    UNKNOWN_MACHINE_TYPE,
    WINDOW,
)
from core.layout import DataLayout

RELATIVE_COLUMNS: Final[tuple[str, ...]] = (
    *(name for name, _, _ in RELATIVE_FEATURES),
    *(name for name, _ in DAY_MEAN_FEATURES),
    BASELINE_DAYS_FEATURE,
    BASELINE_IS_COLD,
)
"""Columns :func:`relative_features` returns."""
BASES: Final[tuple[str, ...]] = tuple(dict.fromkeys(base for _, base, _ in RELATIVE_FEATURES))
DAY: Final = timedelta(days=1)
HISTORY_NEEDED: Final = BASELINE_DAYS * DAY
"""How far back of a window the relative features look."""
_HOUR_NS: Final = int(WINDOW.total_seconds() * 1e9)
_DAY_STEPS: Final = int(DAY / WINDOW)


def read_machine_types(layout: DataLayout) -> dict[str, str]:
    """The machine registry (``layout.machines_path``: machine_id, machine_type); empty if absent."""
    path = layout.machines_path
    if not path.is_file():
        return {}
    frame = pd.read_parquet(path, columns=[ENTITY_KEY, MACHINE_TYPE])
    return dict(zip(frame[ENTITY_KEY].astype(str), frame[MACHINE_TYPE].astype(str), strict=True))


def write_machine_types(layout: DataLayout, machines: pd.DataFrame) -> Path:
    """Write the machine registry (columns machine_id, machine_type), replacing an earlier one."""
    path = layout.machines_path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    machines[[ENTITY_KEY, MACHINE_TYPE]].to_parquet(tmp, index=False)
    tmp.replace(path)
    return path


def _robust(values: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median, floored robust scale and the count of finite values along ``axis``."""
    count = np.isfinite(values).sum(axis=axis)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        # an all-NaN slice is expected (a machine without history yet)
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(values, axis=axis)
        mad = np.nanmedian(np.abs(values - np.expand_dims(median, axis)), axis=axis)
    scale = np.maximum(MAD_TO_SIGMA * mad, RELATIVE_SCALE_FLOOR * np.abs(median))
    return median, scale, count


def _deviation(x: np.ndarray, median: np.ndarray, scale: np.ndarray, *, excess_only: bool) -> np.ndarray:
    with np.errstate(all="ignore"):
        z = (x - median) / scale
    z = np.where(scale > 0, z, 0.0)
    return np.clip(z, 0.0 if excess_only else -RELATIVE_LIMIT, RELATIVE_LIMIT)


def relative_features(
    windows: pd.DataFrame, machine_types: Mapping[str, str], targets: np.ndarray | None = None
) -> pd.DataFrame:
    """Hourly relative features (``RELATIVE_COLUMNS``; the day means are left NaN for
    :func:`_day_means`, which needs the hourly values of the day before)
    of the rows ``targets`` (a boolean mask; default all)
    of ``windows``, computed from every row of ``windows`` (one row per machine and window, with
    ``EVENT_TIMESTAMP``, the ``BASES`` statistics and ``IS_SPARSE``). The result is indexed like the
    target rows. Rows needed as history must be in ``windows``: the ``BASELINE_DAYS`` days before the
    earliest target, and every peer window of the target hours."""
    mask = np.ones(len(windows), bool) if targets is None else np.asarray(targets, bool)
    index = windows.index[mask]
    out = pd.DataFrame(index=index, columns=list(RELATIVE_COLUMNS), dtype=np.float64)
    if not mask.any():
        out[BASELINE_IS_COLD] = out[BASELINE_IS_COLD].astype(bool)
        return out
    machine_codes, machines = pd.factorize(windows[ENTITY_KEY], sort=False)
    ts = pd.DatetimeIndex(windows[EVENT_TIMESTAMP]).tz_convert("UTC").as_unit("ns").asi8
    t0 = ts.min()
    hour = (ts - t0) // _HOUR_NS
    n_m, n_h = len(machines), int(hour.max()) + 1
    types = np.array([machine_types.get(str(m), UNKNOWN_MACHINE_TYPE) for m in machines], dtype=object)
    type_codes, type_names = pd.factorize(types, sort=True)
    usable = ~windows[IS_SPARSE].fillna(True).to_numpy(dtype=bool)

    t_m, t_h = machine_codes[mask], hour[mask]
    # the target hours' columns: the hour itself and the same hour on each of the previous days
    lags = np.arange(1, BASELINE_DAYS + 1) * _DAY_STEPS
    days = None
    for base in BASES:
        grid = np.full((n_m, n_h), np.nan)
        grid[machine_codes[usable], hour[usable]] = windows[base].to_numpy(np.float64)[usable]
        lag_h = t_h[None, :] - lags[:, None]  # (N, T)
        valid = lag_h >= 0
        own_vals = np.where(valid, grid[t_m[None, :], np.where(valid, lag_h, 0)], np.nan)  # (N, T)
        own_med, own_scale, own_n = _robust(own_vals, axis=0)
        if days is None:
            days = own_n
        x = windows[base].to_numpy(np.float64)[mask]
        peer_med = np.full(len(t_h), np.nan)
        peer_scale = np.full(len(t_h), np.nan)
        type_med = np.full(len(t_h), np.nan)
        type_scale = np.full(len(t_h), np.nan)
        target_types = type_codes[t_m]
        for code in range(len(type_names)):
            rows = np.flatnonzero(target_types == code)
            if not len(rows):
                continue
            peers = grid[type_codes == code]  # (P, H)
            # the type's statistics depend on the hour only: compute them once per distinct hour
            hours, back = np.unique(t_h[rows], return_inverse=True)
            med, scale, _ = _robust(peers[:, hours], axis=0)
            peer_med[rows], peer_scale[rows] = med[back], scale[back]
            lh = hours[None, :] - lags[:, None]  # (N, U)
            ok = lh >= 0
            vals = np.where(ok[None], peers[:, np.where(ok, lh, 0)], np.nan)  # (P, N, U)
            med, scale, _ = _robust(vals.reshape(-1, len(hours)), axis=0)
            type_med[rows], type_scale[rows] = med[back], scale[back]
        cold = own_n < MIN_BASELINE_DAYS
        no_type = ~np.isfinite(type_med)
        cold_med = np.where(no_type, peer_med, type_med)
        cold_scale = np.where(no_type, peer_scale, type_scale)
        # the cold machine's own offset from its type (from the days it has), within the limit
        limit = COLD_OFFSET_LIMIT * np.nan_to_num(cold_scale)
        offset = np.clip(np.nan_to_num(own_med - cold_med), -limit, limit)
        base_med = np.where(cold, cold_med + offset, own_med)
        base_scale = np.where(cold, cold_scale, own_scale)
        # peers: each machine's excess over its own baseline, against its type's excesses this hour
        excess = x - base_med
        group = target_types.astype(np.int64) * n_h + t_h
        ok = usable[mask] & np.isfinite(excess)
        stats = pd.DataFrame({"g": group[ok], "r": excess[ok]}).groupby("g")["r"]
        g_med = stats.median()
        g_mad = (excess[ok] - g_med.reindex(group[ok]).to_numpy()).__abs__()
        g_mad = pd.Series(g_mad).groupby(group[ok]).median()
        med = g_med.reindex(group).to_numpy()
        spread = np.maximum(
            MAD_TO_SIGMA * g_mad.reindex(group).to_numpy(), RELATIVE_SCALE_FLOOR * np.abs(base_med)
        )
        for name, b, kind in RELATIVE_FEATURES:
            if b != base:
                continue
            if kind == OWN:
                out[name] = _deviation(x, base_med, base_scale, excess_only=base in EXCESS_ONLY_BASES)
            else:
                out[name] = _deviation(excess, med, spread, excess_only=base in EXCESS_ONLY_BASES)
    assert days is not None
    out[BASELINE_DAYS_FEATURE] = days.astype(np.float64)
    out[BASELINE_IS_COLD] = days < MIN_BASELINE_DAYS
    # no usable peer at all (a lone sparse window): no deviation to speak of
    names = [name for name, _, _ in RELATIVE_FEATURES]
    out[names] = out[names].fillna(0.0)
    return out


def _restart_hours(codes: np.ndarray, hour: np.ndarray, n_h: int) -> np.ndarray:
    """Per row, the hour of its machine's first window since the last stop of at least
    ``DAY_MEAN_RESTART_GAP_H`` hours (or since its first window in the frame)."""
    key = codes.astype(np.int64) * (n_h + 1) + hour
    order = np.argsort(key, kind="stable")
    k, c = key[order], codes[order]
    start = np.ones(len(k), dtype=bool)
    start[1:] = (c[1:] != c[:-1]) | (k[1:] - k[:-1] - 1 >= DAY_MEAN_RESTART_GAP_H)
    # the latest run start so far; keys grow across machines, so a running maximum stays per machine
    run_key = np.maximum.accumulate(np.where(start, k, -1))
    out = np.empty(len(k), dtype=np.int64)
    out[order] = run_key - c.astype(np.int64) * (n_h + 1)
    return out


def _day_means(frame: pd.DataFrame, targets: np.ndarray) -> pd.DataFrame:
    """``DAY_MEAN_FEATURES`` of the target rows: per machine, the mean of each hourly relative
    feature over its windows ending in the last ``DAY_MEAN_HOURS`` hours (the row's own included)
    and after its last stop (see ``DAY_MEAN_RESTART_GAP_H``), read from ``frame``, whose hourly
    relative columns must be filled for those windows."""
    codes, _ = pd.factorize(frame[ENTITY_KEY], sort=False)
    ts = pd.DatetimeIndex(frame[EVENT_TIMESTAMP]).tz_convert("UTC").as_unit("ns").asi8
    hour = (ts - ts.min()) // _HOUR_NS
    n_m, n_h = int(codes.max()) + 1, int(hour.max()) + 1
    t_m, t_h = codes[targets], hour[targets]
    restart = _restart_hours(codes, hour, n_h)[targets]
    lo = np.maximum(np.maximum(t_h - DAY_MEAN_HOURS, -1), restart - 1)
    out = pd.DataFrame(index=frame.index[targets])
    for name, hourly in DAY_MEAN_FEATURES:
        values = frame[hourly].to_numpy(np.float64)
        present = np.isfinite(values)
        total = np.zeros((n_m, n_h + 1))
        count = np.zeros((n_m, n_h + 1))
        total[codes[present], hour[present] + 1] = values[present]
        count[codes[present], hour[present] + 1] = 1.0
        total, count = total.cumsum(axis=1), count.cumsum(axis=1)
        s = total[t_m, t_h + 1] - total[t_m, lo + 1]
        n = count[t_m, t_h + 1] - count[t_m, lo + 1]
        out[name] = np.where(n > 0, s / np.maximum(n, 1), 0.0)
    return out


def with_relative(windows: pd.DataFrame, machine_types: Mapping[str, str]) -> pd.DataFrame:
    """``windows`` with its relative columns (re)computed from itself (the bulk path)."""
    if len(windows) == 0:
        return windows.assign(**{c: pd.Series(dtype=np.float64) for c in RELATIVE_COLUMNS}).astype(
            {BASELINE_IS_COLD: bool}
        )
    rel = relative_features(windows, machine_types)
    out = windows.copy()
    for column in RELATIVE_COLUMNS:
        out[column] = rel[column].to_numpy()
    out[BASELINE_IS_COLD] = out[BASELINE_IS_COLD].astype(bool)
    day = _day_means(out, np.ones(len(out), bool))
    for column in day.columns:
        out[column] = day[column].to_numpy()
    return out


def windows_of(
    readings: pd.DataFrame, machine_types: Mapping[str, str] | None = None, **aggregate: Any
) -> pd.DataFrame:
    """The offline store's rows (``WINDOW_COLUMNS``) of a frame of readings, in one bulk pass:
    :func:`features.aggregate.aggregate_windows` (keyword arguments go there), then
    :func:`with_relative` over the whole frame (``machine_types`` default: none known)."""
    from features.aggregate import WINDOW_COLUMNS, aggregate_windows

    return with_relative(aggregate_windows(readings, **aggregate), machine_types or {})[list(WINDOW_COLUMNS)]


class RelativeState:
    """The streaming side: the last ``BASELINE_DAYS`` days (and a day more) of windows, so that a
    batch's changed windows get the relative features :func:`with_relative` would give them.

    :meth:`update` takes the windows a batch changed and returns them together with every other
    window of the same hours (the peers' deviations move when one machine's window changes), all
    with recomputed relative features and the batch's ``created_timestamp``. Once every machine's
    window of an hour is complete, the rows returned for it equal the bulk path's.
    """

    def __init__(self, machine_types: Mapping[str, str], history: pd.DataFrame | None = None) -> None:
        self._types = dict(machine_types)
        self._frame = history.reset_index(drop=True) if history is not None and len(history) else None

    @property
    def windows(self) -> int:
        """Windows held (the last ``BASELINE_DAYS`` + 1 days)."""
        return 0 if self._frame is None else len(self._frame)

    def add_history(self, windows: pd.DataFrame) -> None:
        """Add windows known from elsewhere (e.g. the offline store, for a machine an ingest worker
        sees for the first time) as history; windows already held keep their held revision."""
        if len(windows) == 0:
            return
        if self._frame is None:
            self._frame = windows.reset_index(drop=True)
            return
        keys = [ENTITY_KEY, EVENT_TIMESTAMP]
        known = pd.MultiIndex.from_frame(windows[keys]).isin(pd.MultiIndex.from_frame(self._frame[keys]))
        self._frame = pd.concat([self._frame, windows.loc[~known]], ignore_index=True)

    def update(self, changed: pd.DataFrame) -> pd.DataFrame:
        """The changed windows and their peers of the same hours, with relative features
        (``WINDOW_COLUMNS``)."""
        if len(changed) == 0:
            return with_relative(changed, self._types)
        if self._frame is None:
            frame = changed.reset_index(drop=True)
        else:
            keys = [ENTITY_KEY, EVENT_TIMESTAMP]
            old = pd.MultiIndex.from_frame(self._frame[keys])
            stale = old.isin(pd.MultiIndex.from_frame(changed[keys]))
            frame = pd.concat([self._frame.loc[~stale], changed], ignore_index=True)
        newest = frame[EVENT_TIMESTAMP].max()
        keep = (frame[EVENT_TIMESTAMP] > newest - HISTORY_NEEDED - DAY).to_numpy()
        frame = frame.loc[keep].reset_index(drop=True)
        targets = frame[EVENT_TIMESTAMP].isin(pd.unique(changed[EVENT_TIMESTAMP])).to_numpy()
        rel = relative_features(frame, self._types, targets)
        for column in RELATIVE_COLUMNS:
            values = rel[column].to_numpy()
            if column not in frame:
                frame[column] = np.zeros(len(frame), values.dtype)
            frame.loc[targets, column] = values
        frame[BASELINE_IS_COLD] = frame[BASELINE_IS_COLD].astype(bool)
        day = _day_means(frame, targets)
        for column in day.columns:
            frame.loc[targets, column] = day[column].to_numpy()
        frame.loc[targets, CREATED_TIMESTAMP] = changed[CREATED_TIMESTAMP].max()
        self._frame = frame
        return pd.DataFrame(frame.loc[targets].reset_index(drop=True))


__all__ = [
    "RELATIVE_COLUMNS",
    "RelativeState",
    "read_machine_types",
    "relative_features",
    "windows_of",
    "with_relative",
    "write_machine_types",
]
