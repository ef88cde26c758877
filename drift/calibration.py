"""Per-column drift thresholds calibrated from the reference itself, for the window size in use.

Real sensor data is autocorrelated and wanders slowly, so the normalised Wasserstein distance between
two stretches of normal operation is far larger than between two independent samples: a fixed
threshold (Evidently's 0.1) is crossed by every normal window. Instead, the statistic's distribution
under "no drift" is estimated from the reference:

- **moving blocks**: ``draws`` stretches of ``block_rows`` *consecutive* reference rows are taken at
  evenly spaced starts, and each is scored with the live check's statistic against the reference
  rows on its longer side, ``W1(side, stretch) / std(side)``: the live window lies after its
  reference, not inside it, so a stretch is compared with rows on one side of it only (a stretch
  compared with the rows around it sees both its past and its future, and on slowly wandering data
  that understates how far the next window lands). Consecutive rows keep the autocorrelation and the
  slow wander that a row-wise bootstrap would average away. The reference must therefore be in time
  order (``aml.bundle_builder.reference_sample`` keeps it so).
- ``block_rows``: the reference rows that span as long as the live window (:func:`block_rows_for`:
  a reference sampled from 14 days holds fewer rows per day than a one-day window, and a stretch
  covering four days would average away the day-to-day wander a one-day window shows), else the
  window size; at most half the reference. A stretch with fewer rows than the window scatters more,
  so its threshold is larger than the window's: conservative.
- **threshold** per column: a one-sided ``1 - alpha_column`` *prediction* bound for the next window's
  log distance, from a log-normal fitted to the draws (the far tail is extrapolated rather than read
  off as an order statistic), never below the largest draw. The fit is robust: the location is the
  log draws' median, the scale the smaller of their sd and their MAD (as a normal's sd). Under a
  log-normal both estimate the same sd; each is inflated by a departure seen on real data, and an
  inflated scale only ever raises the bound. On quantised sensors many stretches match the rest
  almost exactly and their logs run towards minus infinity: the sd was blown up by them (a flow-rate
  threshold of 302 reference sds against a largest draw of 0.28 on SKAB's ``valve1/7.csv``, so that
  column could never drift), the MAD is not. A flat, light-tailed null (the simulator's daily
  temperature means) makes the MAD the larger. The draws overlap: a reference of ``n`` rows holds
  only ``n / block_rows`` independent stretches, so the location and scale are estimates from that
  many, and the bound is Student's, ``median + t(1 - alpha_column, nu) * scale * sqrt(1 + 1/n_eff)``
  with ``n_eff = n / block_rows`` and ``nu = n_eff - 1``, not the plug-in normal quantile (which
  treats them as known). What the stated level holds to on SKAB's ``anomaly-free`` recording:
  ``docs/drift-evaluation.md``.
- **many columns**: the dataset verdict is "some column is at or above its threshold", with the
  per-column level from Šidák, ``alpha_column = 1 - (1 - alpha) ** (1 / k)``; for positively dependent
  columns (the features share sensors) this keeps the per-check false-alarm probability at or below
  ``alpha``.

The scores the sidecar reports still come from Evidently's ``DataDriftPreset``; this module decides
the thresholds. It computes the same statistic with scipy (identical to Evidently's score to every
digit, see TOOLING.md), because it needs hundreds of distances per column. Calibration depends only on
the reference, the columns and the window size; :class:`CalibrationCache` keeps it per reference hash.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from statistics import NormalDist
from typing import TYPE_CHECKING, Final

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from core.contract import MAD_TO_SIGMA

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_FALSE_ALARM_PROBABILITY: Final = 0.01
"""Per check, for the whole dataset verdict (all columns together)."""
DEFAULT_DRAWS: Final = 200
MIN_BLOCK_ROWS: Final = 20
MIN_EFFECTIVE_DRAWS: Final = 2.0
"""Floor for ``n_eff`` (a reference shorter than two stretches leaves one degree of freedom)."""
STD_FLOOR: Final = 0.001
"""Evidently's floor for the reference std in the normalised distance."""


class Calibration(BaseModel):
    """Thresholds of one reference for one window size, and how they were found."""

    model_config = ConfigDict(frozen=True)

    reference_hash: str
    window_rows: int
    block_rows: int
    """Consecutive reference rows per null draw (``window_rows``, or half the reference if smaller)."""
    draws: int
    false_alarm_probability: float
    """Per check, dataset verdict."""
    column_false_alarm_probability: float
    """Per column (Šidák over the calibrated columns)."""
    thresholds: dict[str, float]
    null_median: dict[str, float] = Field(default_factory=dict)
    """Median distance between a normal stretch and the rest of the reference, per column."""
    method: str = (
        "one-sided moving-block null of W1/std, robust log-normal Student-t prediction bound,"
        " Šidák over columns"
    )
    duration_s: float = 0.0


def sidak(alpha: float, k: int) -> float:
    """Per-test level so that ``k`` independent tests together reach ``alpha``."""
    return float(1.0 - (1.0 - alpha) ** (1.0 / max(k, 1)))


def block_rows_for(
    window_rows: int, reference_rows: int, window_hours: float | None, reference_hours: float | None
) -> int:
    """Reference rows spanning ``window_hours`` when both spans are known, else ``window_rows``."""
    if window_hours and reference_hours and reference_hours > 0:
        return max(MIN_BLOCK_ROWS, min(window_rows, round(window_hours * reference_rows / reference_hours)))
    return window_rows


def _finite(values: np.ndarray) -> np.ndarray:
    finite: np.ndarray = values[np.isfinite(values)]
    return finite


def stretch_rows(block_rows: int, values: int) -> int:
    """Rows in each resampled stretch of a ``values``-row reference: ``block_rows``, at most half the
    reference, at least ``MIN_BLOCK_ROWS``."""
    return max(MIN_BLOCK_ROWS, min(block_rows, values // 2))


def null_distances(values: np.ndarray, block_rows: int, draws: int) -> np.ndarray:
    """``W1(side, stretch) / std(side)`` for ``draws`` evenly spaced stretches of consecutive rows,
    ``side`` being the rows before the stretch or those after it, whichever are more."""
    from scipy.stats import wasserstein_distance

    n = len(values)
    starts = np.unique(np.linspace(0, n - block_rows, num=draws).round().astype(int))
    out = np.empty(len(starts))
    for i, s in enumerate(starts):
        stretch = values[s : s + block_rows]
        before, after = values[:s], values[s + block_rows :]
        side = before if len(before) >= len(after) else after
        out[i] = wasserstein_distance(side, stretch) / max(float(np.std(side)), STD_FLOOR)
    return out


def tail_threshold(draws: np.ndarray, alpha: float, effective_draws: float | None = None) -> float:
    """A one-sided ``1 - alpha`` prediction bound for one more draw, from a log-normal fitted to the
    positive ``draws`` (location: the logs' median; scale: the smaller of their sd and their MAD as
    a normal sd), at least their max. ``effective_draws``: how many independent draws they are worth
    (overlapping stretches: reference rows / stretch rows); ``None``: the normal quantile, as if the
    fitted location and scale were exact."""
    positive = draws[draws > 0]
    if len(positive) < 2:
        return float(draws.max()) if len(draws) else math.inf
    logs = np.log(positive)
    location = float(np.median(logs))
    scale = min(float(logs.std(ddof=1)), MAD_TO_SIGMA * float(np.median(np.abs(logs - location))))
    if effective_draws is None:
        factor = NormalDist().inv_cdf(1.0 - alpha)
    else:
        from scipy.stats import t as student

        n_eff = max(effective_draws, MIN_EFFECTIVE_DRAWS)
        factor = float(student.ppf(1.0 - alpha, n_eff - 1.0)) * math.sqrt(1.0 + 1.0 / n_eff)
    return max(float(np.exp(location + factor * scale)), float(draws.max()))


def calibrate(
    reference: pd.DataFrame,
    columns: Sequence[str],
    window_rows: int,
    *,
    reference_hash: str,
    false_alarm_probability: float = DEFAULT_FALSE_ALARM_PROBABILITY,
    draws: int = DEFAULT_DRAWS,
    block_rows: int | None = None,
) -> Calibration:
    """Thresholds for checking ``window_rows``-row windows against ``reference`` (rows in time
    order), from stretches of ``block_rows`` (default ``window_rows``) consecutive rows. Columns that
    are constant or have too few finite values get no threshold (the check excludes them anyway)."""
    import pandas as pd

    started = time.perf_counter()
    usable: dict[str, np.ndarray] = {}
    for column in columns:
        if column not in reference.columns:
            continue
        raw = pd.to_numeric(reference[column], errors="coerce")
        values = _finite(raw.to_numpy("float64", na_value=np.nan))
        if len(values) >= 2 * MIN_BLOCK_ROWS and float(np.ptp(values)) > 0:
            usable[column] = values
    alpha_column = sidak(false_alarm_probability, len(usable))
    thresholds: dict[str, float] = {}
    medians: dict[str, float] = {}
    block = MIN_BLOCK_ROWS
    for column, values in usable.items():
        block = stretch_rows(block_rows or window_rows, len(values))
        null = null_distances(values, block, draws)
        thresholds[column] = tail_threshold(null, alpha_column, len(values) / block)
        medians[column] = float(np.median(null))
    return Calibration(
        reference_hash=reference_hash,
        window_rows=window_rows,
        block_rows=block,
        draws=draws,
        false_alarm_probability=false_alarm_probability,
        column_false_alarm_probability=alpha_column,
        thresholds=thresholds,
        null_median=medians,
        duration_s=time.perf_counter() - started,
    )


class CalibrationCache:
    """Calibrations by (reference hash, columns, window rows, level); a new model's reference gets a
    new hash, so its calibration is computed once when it is first checked."""

    def __init__(self, max_entries: int = 8) -> None:
        self.max_entries = max_entries
        self._entries: dict[tuple[str, tuple[str, ...], int, int | None, float], Calibration] = {}
        self._lock = threading.Lock()

    def get(
        self,
        reference: pd.DataFrame,
        columns: Sequence[str],
        window_rows: int,
        *,
        reference_hash: str,
        false_alarm_probability: float = DEFAULT_FALSE_ALARM_PROBABILITY,
        draws: int = DEFAULT_DRAWS,
        block_rows: int | None = None,
    ) -> Calibration:
        key = (reference_hash, tuple(columns), window_rows, block_rows, false_alarm_probability)
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                return found
            calibration = calibrate(
                reference,
                columns,
                window_rows,
                reference_hash=reference_hash,
                false_alarm_probability=false_alarm_probability,
                draws=draws,
                block_rows=block_rows,
            )
            if len(self._entries) >= self.max_entries:
                self._entries.pop(next(iter(self._entries)))
            self._entries[key] = calibration
            return calibration
