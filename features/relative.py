"""Machine- and peer-relative features of hourly windows (``RELATIVE_FEATURES`` in the contract).

The same functions compute them for the bulk path (:func:`with_relative`, a whole history) and the
streaming path (:class:`RelativeState`, which keeps the last ``KEPT_HOURS`` of windows as per-machine
arrays and computes the hours a batch touched), on the same (machine, hour) grids, so both give the
same values to the last bit.

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

from collections.abc import Mapping
from dataclasses import dataclass
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
    MACHINE_ID_PATTERN,
    MACHINE_TYPE,
    MAD_TO_SIGMA,
    MIN_BASELINE_DAYS,
    OWN,
    RELATIVE_FEATURES,
    RELATIVE_LIMIT,
    RELATIVE_SCALE_FLOOR,
    UNKNOWN_MACHINE_TYPE,
    WINDOW,
    WINDOW_NS,
)
from core.layout import DataLayout
from features.errors import InvalidMachineRegistry

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
_DAY_STEPS: Final = int(DAY / WINDOW)


def machine_types_of(frame: pd.DataFrame, source: str) -> dict[str, str]:
    """``machine_id -> machine_type`` of a machine registry frame; :class:`InvalidMachineRegistry`
    names the rule a frame breaks (columns, ids as the contract allows them, one row a machine)."""
    for column in (ENTITY_KEY, MACHINE_TYPE):
        if column not in frame.columns:
            raise InvalidMachineRegistry(source, "required", f"no column {column!r}")
        if frame[column].isna().any():
            row = int(np.flatnonzero(frame[column].isna().to_numpy())[0])
            raise InvalidMachineRegistry(source, "required", f"{column} is empty in row {row}")
    ids, types = frame[ENTITY_KEY].astype(str), frame[MACHINE_TYPE].astype(str)
    bad = ids.loc[~ids.str.fullmatch(MACHINE_ID_PATTERN)]
    if len(bad):
        message = f"machine_id {bad.iloc[0]!r} does not match {MACHINE_ID_PATTERN}"
        raise InvalidMachineRegistry(source, "pattern", message)
    twice = ids.loc[ids.duplicated()]
    if len(twice):
        raise InvalidMachineRegistry(source, "unique", f"machine_id {twice.iloc[0]!r} has more than one row")
    return dict(zip(ids, types, strict=True))


def read_machine_types(layout: DataLayout) -> dict[str, str]:
    """The machine registry (``layout.machines_path``: machine_id, machine_type); empty if absent."""
    path = layout.machines_path
    if not path.is_file():
        return {}
    return machine_types_of(pd.read_parquet(path), str(path))


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
    median = _nanmedian(values, axis)
    with np.errstate(all="ignore"):
        mad = _nanmedian(np.abs(values - np.expand_dims(median, axis)), axis)
    scale = np.maximum(MAD_TO_SIGMA * mad, RELATIVE_SCALE_FLOOR * np.abs(median))
    return median, scale, count


def _nanmedian(values: np.ndarray, axis: int) -> np.ndarray:
    """``np.nanmedian`` along ``axis`` (NaN where a slice has no value), the same values to the
    bit: the mean ``(low + high) / 2`` of the middle two of the sorted non-NaN values (one value
    counted twice when their number is odd), a zero as +0.0 as numpy gives it. One sort instead of
    its masked arrays and its warning per all-NaN slice, most of a live batch's relative-feature
    time."""
    n = np.expand_dims((~np.isnan(values)).sum(axis=axis), axis)
    if values.shape[axis] == 0:
        return np.full(n.squeeze(axis).shape, np.nan)
    ordered = np.sort(values, axis=axis)  # NaN sorts last
    high = np.minimum(n // 2, values.shape[axis] - 1)
    low = np.maximum((n - 1) // 2, 0)
    with np.errstate(all="ignore"):
        median = (np.take_along_axis(ordered, low, axis) + np.take_along_axis(ordered, high, axis)) / 2
    return np.where(n > 0, median + 0.0, np.nan).squeeze(axis)


def _group_medians(groups: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ``groups`` (sorted) and the median of each one's ``values`` (all finite), as
    pandas' group-by median computes it: ``(low + high) / 2`` of the middle two."""
    order = np.lexsort((values, groups))
    g, v = groups[order], values[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]]) if len(g) else np.zeros(0, np.int64)
    counts = np.diff(np.r_[starts, len(g)])
    return g[starts], (v[starts + (counts - 1) // 2] + v[starts + counts // 2]) / 2


def _at_groups(keys: np.ndarray, medians: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """The median of each of ``groups`` from :func:`_group_medians` (NaN for a group not there)."""
    if len(keys) == 0:
        return np.full(len(groups), np.nan)
    at = np.minimum(np.searchsorted(keys, groups), len(keys) - 1)
    return np.where(keys[at] == groups, medians[at], np.nan)


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
    grids = _Grids.of(windows, machine_types)
    for name, values in _hourly(grids, grids.codes[mask], grids.hours[mask]).items():
        out[name] = values
    return out


@dataclass
class _Grids:
    """Windows as (machine, hour) grids, the one input of :func:`_hourly` and :func:`_day_means`
    for both paths: ``values`` (BASES, M, H) the statistics of every window (NaN: no window),
    ``usable`` (M, H) a window that is not sparse, ``present`` (M, H) any window, ``hourly``
    (hourly relative features, M, the last H' <= H hours) where known, ``types`` (M,) type codes
    of the machines. Hours are columns from the grids' first hour; the streaming side keeps the
    grids as rings (hour ``h0 + c`` at column ``(h0 + c) % H``, hourly at ``% H'``), so that moving
    on by an hour clears a column instead of shifting every one; the bulk side has ``h0 = 0``."""

    values: np.ndarray
    usable: np.ndarray
    present: np.ndarray
    hourly: np.ndarray
    types: np.ndarray
    codes: np.ndarray  # per row of the frame they were built from (bulk only)
    hours: np.ndarray
    h0: int | None = 0
    """Hour (since the epoch) of the first column; None for streaming grids before any window."""

    def at(self, cols: np.ndarray) -> np.ndarray:
        """Ring positions of hours (columns from the first hour, ``0 <= cols < H``)."""
        h0, width = self.h0 or 0, self.present.shape[1]
        return cols if h0 % width == 0 else (cols + h0) % width

    def _hourly_at(self, cols: np.ndarray) -> np.ndarray:
        h0, width = self.h0 or 0, self.hourly.shape[2]
        return cols if h0 % width == 0 and self._hourly_from == 0 else (cols + h0) % width

    @classmethod
    def of(cls, windows: pd.DataFrame, machine_types: Mapping[str, str]) -> _Grids:
        """The grids of a windows frame (hours from its earliest window)."""
        codes, machines = pd.factorize(windows[ENTITY_KEY], sort=False)
        hour = _hours(windows)
        hour = hour - hour.min()
        shape = (len(machines), int(hour.max()) + 1)
        types = [machine_types.get(str(m), UNKNOWN_MACHINE_TYPE) for m in machines]
        grids = cls(
            values=np.full((len(BASES), *shape), np.nan),
            usable=np.zeros(shape, bool),
            present=np.zeros(shape, bool),
            hourly=np.full((len(_HOURLY), *shape), np.nan),
            types=pd.factorize(np.array(types, dtype=object), sort=True)[0],
            codes=codes,
            hours=hour,
        )
        grids.write(codes, hour, windows)
        return grids

    def write(self, codes: np.ndarray, hours: np.ndarray, windows: pd.DataFrame) -> None:
        """Put the rows of ``windows`` (at ``codes``, ``hours``) into the grids; their hourly
        relative features too when the frame has them."""
        at = self.at(hours)
        for b, base in enumerate(BASES):
            self.values[b, codes, at] = windows[base].to_numpy(np.float64)
        self.usable[codes, at] = ~windows[IS_SPARSE].fillna(True).to_numpy(dtype=bool)
        self.present[codes, at] = True
        for k, name in enumerate(_HOURLY):
            if name in windows:
                self.set_hourly(k, codes, hours, windows[name].to_numpy(np.float64))

    @property
    def _hourly_from(self) -> int:
        return int(self.present.shape[1] - self.hourly.shape[2])

    def set_hourly(self, k: int, codes: np.ndarray, hours: np.ndarray, values: np.ndarray) -> None:
        """Hourly feature ``k`` of cells (those before the hourly grid's hours are not kept)."""
        kept = hours >= self._hourly_from
        self.hourly[k, codes[kept], self._hourly_at(hours[kept])] = values[kept]

    def hourly_at(self, k: int, codes: np.ndarray, hours: np.ndarray) -> np.ndarray:
        """Hourly feature ``k`` of cells (NaN where not kept)."""
        kept = hours >= self._hourly_from
        cols = self._hourly_at(np.where(kept, hours, self._hourly_from))
        return np.where(kept, self.hourly[k][codes, cols], np.nan)


_HOURLY: Final[tuple[str, ...]] = tuple(name for name, _, _ in RELATIVE_FEATURES)
_BLOCK: Final = 65_536
"""Target rows per block of the day means' (rows x hours) gathers."""


def _hourly(grids: _Grids, t_m: np.ndarray, t_h: np.ndarray) -> dict[str, np.ndarray]:
    """Hourly relative features, baseline days and cold flag of the cells (``t_m``, ``t_h``). The
    peers' statistics of an hour are over the cells given for it: give every window of the hour."""
    n_h = grids.present.shape[1]
    type_codes = grids.types
    out: dict[str, np.ndarray] = {}
    # the target hours' columns: the hour itself and the same hour on each of the previous days
    lags = np.arange(1, BASELINE_DAYS + 1) * _DAY_STEPS
    lag_h = t_h[None, :] - lags[:, None]  # (N, T)
    valid = lag_h >= 0
    # only those columns are read (a live batch: a few dozen of the KEPT_HOURS)
    cols = np.unique(np.concatenate([t_h, lag_h[valid]]))
    at_lag = np.searchsorted(cols, np.where(valid, lag_h, cols[0]))
    at_cols, at_t = grids.at(cols), grids.at(t_h)
    usable = grids.usable[:, at_cols]
    usable_t = grids.usable[t_m, at_t]
    days = None
    for b, base in enumerate(BASES):
        grid = np.where(usable, grids.values[b][:, at_cols], np.nan)  # (M, C)
        own_vals = np.where(valid, grid[t_m[None, :], at_lag], np.nan)  # (N, T)
        own_med, own_scale, own_n = _robust(own_vals, axis=0)
        if days is None:
            days = own_n
        x = grids.values[b][t_m, at_t]
        peer_med = np.full(len(t_h), np.nan)
        peer_scale = np.full(len(t_h), np.nan)
        type_med = np.full(len(t_h), np.nan)
        type_scale = np.full(len(t_h), np.nan)
        target_types = type_codes[t_m]
        for code in np.unique(target_types):
            rows = np.flatnonzero(target_types == code)
            peers = grid[type_codes == code]  # (P, C)
            # the type's statistics depend on the hour only: compute them once per distinct hour
            hours, back = np.unique(t_h[rows], return_inverse=True)
            med, scale, _ = _robust(peers[:, np.searchsorted(cols, hours)], axis=0)
            peer_med[rows], peer_scale[rows] = med[back], scale[back]
            lh = hours[None, :] - lags[:, None]  # (N, U)
            ok = lh >= 0
            vals = np.where(ok[None], peers[:, np.searchsorted(cols, np.where(ok, lh, cols[0]))], np.nan)
            med, scale, _ = _robust(vals.reshape(-1, len(hours)), axis=0)  # (P, N, U) -> (P x N, U)
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
        ok = usable_t & np.isfinite(excess)
        g_ok, r_ok = group[ok], excess[ok]
        keys, g_med = _group_medians(g_ok, r_ok)
        _, g_mad = _group_medians(g_ok, np.abs(r_ok - _at_groups(keys, g_med, g_ok)))
        med = _at_groups(keys, g_med, group)
        g_scale = MAD_TO_SIGMA * _at_groups(keys, g_mad, group)
        spread = np.maximum(g_scale, RELATIVE_SCALE_FLOOR * np.abs(base_med))
        for name, b_name, kind in RELATIVE_FEATURES:
            if b_name != base:
                continue
            if kind == OWN:
                value = _deviation(x, base_med, base_scale, excess_only=base in EXCESS_ONLY_BASES)
            else:
                value = _deviation(excess, med, spread, excess_only=base in EXCESS_ONLY_BASES)
            # no usable peer at all (a lone sparse window): no deviation to speak of
            out[name] = np.nan_to_num(value, nan=0.0)
    assert days is not None
    out[BASELINE_DAYS_FEATURE] = days.astype(np.float64)
    out[BASELINE_IS_COLD] = days < MIN_BASELINE_DAYS
    return out


def _day_means(grids: _Grids, t_m: np.ndarray, t_h: np.ndarray) -> dict[str, np.ndarray]:
    """``DAY_MEAN_FEATURES`` of the cells (``t_m``, ``t_h``): per machine, the mean of each hourly
    relative feature over its windows ending in the last ``DAY_MEAN_HOURS`` hours (the cell's own
    included) and after its last stop (a window with none in the ``DAY_MEAN_RESTART_GAP_H`` hours
    before it; hours outside the grids count as none), from ``grids.hourly``, which must be filled
    for those windows."""
    span, gap = DAY_MEAN_HOURS, DAY_MEAN_RESTART_GAP_H
    back = np.arange(span + gap)  # hours back from the cell: h, h - 1, ...
    out = {name: np.empty(len(t_m)) for name, _ in DAY_MEAN_FEATURES}
    for lo in range(0, len(t_m), _BLOCK):
        m = t_m[lo : lo + _BLOCK, None]
        cols = t_h[lo : lo + _BLOCK, None] - back[None, :]
        inside = cols >= 0
        cols = np.where(inside, cols, 0)
        here = grids.present[m, grids.at(cols)] & inside
        before = np.zeros_like(here[:, :span])
        for g in range(1, gap + 1):
            before |= here[:, g : g + span]
        start = here[:, :span] & ~before
        # the newest restart within the span (none: the whole span counts)
        newest = np.where(start.any(axis=1), start.argmax(axis=1), span - 1)
        used = back[None, :span] <= newest[:, None]
        for (name, _), k in zip(DAY_MEAN_FEATURES, range(len(_HOURLY)), strict=True):
            values = grids.hourly_at(k, m, cols[:, :span])
            ok = used & inside[:, :span] & np.isfinite(values)
            total = np.where(ok, values, 0.0).sum(axis=1)
            count = ok.sum(axis=1)
            out[name][lo : lo + _BLOCK] = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    return out


def _hours(windows: pd.DataFrame) -> np.ndarray:
    """Hours since the epoch of the windows' ends."""
    ts = pd.DatetimeIndex(windows[EVENT_TIMESTAMP]).tz_convert("UTC").as_unit("ns").asi8
    return np.asarray(ts // WINDOW_NS, dtype=np.int64)


def with_relative(windows: pd.DataFrame, machine_types: Mapping[str, str]) -> pd.DataFrame:
    """``windows`` with its relative columns (re)computed from itself (the bulk path)."""
    if len(windows) == 0:
        return windows.assign(**{c: pd.Series(dtype=np.float64) for c in RELATIVE_COLUMNS}).astype(
            {BASELINE_IS_COLD: bool}
        )
    grids = _Grids.of(windows, machine_types)
    rel = _hourly(grids, grids.codes, grids.hours)
    for k, name in enumerate(_HOURLY):
        grids.set_hourly(k, grids.codes, grids.hours, rel[name])
    rel |= _day_means(grids, grids.codes, grids.hours)
    out = windows.copy()
    for column in RELATIVE_COLUMNS:
        out[column] = rel[column]
    out[BASELINE_IS_COLD] = out[BASELINE_IS_COLD].astype(bool)
    return out


def windows_of(
    readings: pd.DataFrame, machine_types: Mapping[str, str] | None = None, **aggregate: Any
) -> pd.DataFrame:
    """The offline store's rows (``WINDOW_COLUMNS``) of a frame of readings, in one bulk pass:
    :func:`features.aggregate.aggregate_windows` (keyword arguments go there), then
    :func:`with_relative` over the whole frame (``machine_types`` default: none known)."""
    from features.aggregate import WINDOW_COLUMNS, aggregate_windows

    return with_relative(aggregate_windows(readings, **aggregate), machine_types or {})[list(WINDOW_COLUMNS)]


KEPT_HOURS: Final = int((HISTORY_NEEDED + DAY) / WINDOW)
"""Hours of windows :class:`RelativeState` keeps (the baseline's days and a day more)."""
_CODE, _HOUR = "_machine_code", "_hour"  # the held rows' grid coordinates


class RelativeState:
    """The streaming side: the last ``KEPT_HOURS`` of windows as arrays (per machine and hour: the
    ``BASES`` statistics and sparse and present flags; the hourly relative features of the last
    ``rows_kept`` + 2 x ``DAY_MEAN_HOURS``, for the day means: 8 KB a machine, 7 KB in bulk
    history), plus the full rows of the last ``rows_kept`` (those a batch can still revise), so
    that a batch's changed windows get the relative features :func:`with_relative` would give them
    (both paths compute them with the same functions on the same grids).

    :meth:`update` takes the windows a batch changed and returns them together with every other
    held window of the same hours (the peers' deviations move when one machine's window changes), all
    with recomputed relative features and the batch's ``created_timestamp``. Once every machine's
    window of an hour is complete, the rows returned for it equal the bulk path's. A changed window
    older than ``rows_kept`` gets the same hourly values, but its peers' rows of that hour are no
    longer held and are not returned, and its day means count only the hourly values still held;
    one older than ``KEPT_HOURS`` behind the newest is dropped. Bulk history (every chunk holds
    whole hours of every machine) keeps no rows (``rows_kept=0``).
    """

    def __init__(
        self,
        machine_types: Mapping[str, str],
        history: pd.DataFrame | None = None,
        *,
        rows_kept: timedelta = DAY,
    ) -> None:
        self._types = dict(machine_types)
        self._codes: dict[str, int] = {}
        self._type_codes: dict[str, int] = {}
        self._machine_types: list[int] = []
        self._row_hours = int(rows_kept / WINDOW)
        # hourly features for the day means of targets as old as the rows held, or a day's batch
        self._hourly_hours = min(KEPT_HOURS, self._row_hours + 2 * DAY_MEAN_HOURS)
        self._grids = _Grids(
            values=np.full((len(BASES), 0, KEPT_HOURS), np.nan),
            usable=np.zeros((0, KEPT_HOURS), bool),
            present=np.zeros((0, KEPT_HOURS), bool),
            hourly=np.full((len(_HOURLY), 0, self._hourly_hours), np.nan),
            types=np.zeros(0, np.int64),
            codes=np.zeros(0, np.int64),
            hours=np.zeros(0, np.int64),
            h0=None,
        )
        self._rows: pd.DataFrame | None = None
        if history is not None:
            self.add_history(history)

    @property
    def _h0(self) -> int | None:
        """Hour (since the epoch) of the grids' first column (None before any window)."""
        return self._grids.h0

    @property
    def windows(self) -> int:
        """Windows held (the last ``KEPT_HOURS``)."""
        return int(self._grids.present.sum())

    def _code(self, names: np.ndarray) -> np.ndarray:
        """Grid rows of machines, adding rows for machines not seen before."""
        codes = self._codes
        out = np.fromiter((codes.get(m, -1) for m in names), dtype=np.int64, count=len(names))
        if (out < 0).any():
            for i in np.flatnonzero(out < 0):
                name = str(names[i])
                if name not in codes:
                    codes[name] = len(codes)
                    kind = self._types.get(name, UNKNOWN_MACHINE_TYPE)
                    self._machine_types.append(self._type_codes.setdefault(kind, len(self._type_codes)))
                out[i] = codes[name]
            self._grow(len(codes))
        return out

    def _grow(self, machines: int) -> None:
        g = self._grids
        have = g.present.shape[0]
        if machines > have:
            size = max(machines, 2 * have)
            g.values = _grown(g.values, size, np.nan)
            g.usable = _grown(g.usable, size, False)
            g.present = _grown(g.present, size, False)
            g.hourly = _grown(g.hourly, size, np.nan)
        # machines not yet seen are of their own type: no rows in the grids, they are nobody's peers
        types = np.full(g.present.shape[0], -1, np.int64)
        types[: len(self._machine_types)] = self._machine_types
        g.types = types

    def _advance(self, newest: int) -> None:
        """Move the grids so that hour ``newest`` (since the epoch) is in the last column or before."""
        g = self._grids
        if g.h0 is None:
            g.h0 = newest - KEPT_HOURS + 1
            return
        shift = newest - (g.h0 + KEPT_HOURS - 1)
        if shift <= 0:
            return
        # the grids are rings: the hours moving in take the columns of those moving out
        entering = np.arange(g.h0 + KEPT_HOURS, newest + 1)
        for grid, empty in ((g.values, np.nan), (g.usable, False), (g.present, False), (g.hourly, np.nan)):
            if shift < grid.shape[-1]:
                grid[..., entering % grid.shape[-1]] = empty
            else:
                grid[...] = empty
        g.h0 += shift

    def add_history(self, windows: pd.DataFrame) -> None:
        """Add windows known from elsewhere (e.g. the offline store, for a machine an ingest worker
        sees for the first time) as history; windows already held keep their held revision."""
        if len(windows) == 0:
            return
        hours = _hours(windows)
        self._advance(int(hours.max()))
        assert self._h0 is not None
        cols = hours - self._h0
        codes = self._code(windows[ENTITY_KEY].to_numpy(dtype=object))
        new = (cols >= 0) & ~self._grids.present[codes, self._grids.at(np.maximum(cols, 0))]
        if not new.all():
            windows, codes, cols, hours = windows.loc[new], codes[new], cols[new], hours[new]
        self._grids.write(codes, cols, windows)
        recent = hours > self._h0 + KEPT_HOURS - 1 - self._row_hours
        if recent.any():
            rows = windows.loc[recent].assign(**{_CODE: codes[recent], _HOUR: hours[recent]})
            held = self._rows
            self._rows = rows if held is None else pd.concat([held, rows], ignore_index=True)

    def update(self, changed: pd.DataFrame) -> pd.DataFrame:
        """The changed windows and their peers of the same hours, with relative features
        (``WINDOW_COLUMNS``)."""
        if len(changed) == 0:
            return with_relative(changed, self._types)
        hours = _hours(changed)
        self._advance(int(hours.max()))
        assert self._h0 is not None
        inside = hours >= self._h0
        if not inside.all():  # older than the kept hours: nothing to compare with any more
            changed, hours = changed.loc[inside], hours[inside]
            if len(changed) == 0:
                return with_relative(changed, self._types)
        g = self._grids
        codes = self._code(changed[ENTITY_KEY].to_numpy(dtype=object))
        g.write(codes, hours - self._h0, changed.drop(columns=list(_HOURLY), errors="ignore"))
        part = changed.assign(**{_CODE: codes, _HOUR: hours})
        held = self._rows
        if held is not None and len(held):
            stale = np.isin(_key(held[_CODE].to_numpy(), held[_HOUR].to_numpy()), _key(codes, hours))
            frame = pd.concat([held.loc[~stale], part], ignore_index=True)
        else:
            frame = part.reset_index(drop=True)
        # every window of the changed hours: the peers' statistics are over all of them
        cols = np.unique(hours - self._h0)
        cell_m, j = np.nonzero(g.present[:, g.at(cols)])
        cell_h = cols[j]
        rel = _hourly(g, cell_m, cell_h)
        for k, name in enumerate(_HOURLY):
            g.set_hourly(k, cell_m, cell_h, rel[name])
        f_hours = frame[_HOUR].to_numpy()
        targets = np.isin(f_hours - self._h0, cols)
        t_m, t_h = frame[_CODE].to_numpy()[targets], f_hours[targets] - self._h0
        at = np.searchsorted(_key(cell_m, cell_h), _key(t_m, t_h))
        values = {name: rel[name][at] for name in rel} | _day_means(g, t_m, t_h)
        for column in RELATIVE_COLUMNS:
            if column not in frame:
                frame[column] = np.zeros(len(frame), values[column].dtype)
            frame.loc[targets, column] = values[column]
        frame[BASELINE_IS_COLD] = frame[BASELINE_IS_COLD].astype(bool)
        frame.loc[targets, CREATED_TIMESTAMP] = changed[CREATED_TIMESTAMP].max()
        keep = f_hours > self._h0 + KEPT_HOURS - 1 - self._row_hours
        self._rows = frame.loc[keep].reset_index(drop=True)
        return pd.DataFrame(frame.loc[targets].drop(columns=[_CODE, _HOUR]).reset_index(drop=True))


def _grown(grid: np.ndarray, machines: int, empty: float | bool) -> np.ndarray:
    """``grid`` (machines on the second-to-last axis) with room for ``machines``, the new rows
    ``empty``: one allocation written once (a concatenation wrote the new rows twice)."""
    have = grid.shape[-2]
    out = np.empty((*grid.shape[:-2], machines, grid.shape[-1]), grid.dtype)
    out[..., :have, :] = grid
    out[..., have:, :] = empty
    return out


def _key(codes: np.ndarray, hours: np.ndarray) -> np.ndarray:
    """One int64 per (machine, hour) cell, ordered by machine, then hour."""
    return np.asarray(codes.astype(np.int64) * (1 << 32) + hours, dtype=np.int64)


__all__ = [
    "KEPT_HOURS",
    "RELATIVE_COLUMNS",
    "RelativeState",
    "read_machine_types",
    "relative_features",
    "windows_of",
    "with_relative",
    "write_machine_types",
]
