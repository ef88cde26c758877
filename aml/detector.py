"""A reusable anomaly detector for numeric sensor frames: windowed features, IsolationForest, and a
decision threshold calibrated as a quantile of the training scores.

It works on any numeric frame:

- our feature view is already windowed (hourly statistics per machine), so it is used as is
  (``DetectorConfig(window=None)``) over ``MODEL_FEATURES``;
- a raw sensor recording (e.g. SKAB at ~1 Hz) gets rolling statistics over the last ``window`` rows
  of every numeric column (``window_features``), computed causally (only past rows), so a score at
  row *t* never looks ahead. ``window`` may be several scales (e.g. ``(5, 15, 60)``); the first
  ``max(window) - 1`` training rows, whose windows are still filling, are left out of the fit.

Two scorers:

- ``"iforest"`` (default; the fleet model, exported to ONNX): an IsolationForest on the features;
- ``"max_deviation"`` (raw recordings): every feature relative to the training window's own level
  and spread (``(x - median) / robust_spread``), the score is the largest absolute deviation over
  the features, and :attr:`Detector.top_feature` names it. An IsolationForest chooses a random
  feature at every split, so when one sensor of eight carries a fault its evidence is diluted by
  the others' noise; the largest deviation keeps it whole (see ``docs/detection.md``).

Scores follow the project's convention: **higher means more anomalous**
(``"iforest"``: ``anomaly_score = -IsolationForest.score_samples``, in (0, 1];
``"max_deviation"``: in robust standard deviations, >= 0), and ``score >= threshold`` is an anomaly.

The threshold is ``threshold_margin x quantile(training scores, threshold_quantile)``: with the
default margin 1, the share of *training* windows that would alert is ``1 - threshold_quantile``.
That is an alert budget stated in the data's own units, rather than a guess at contamination; it
does not assume the training data holds anomalies. A short training window underestimates how far
normal data wanders later (its rows are autocorrelated), hence the margin for raw recordings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal

import numpy as np
import pandas as pd

from core.errors import PredMaintError

if TYPE_CHECKING:
    from sklearn.ensemble import IsolationForest

Stat = Literal["mean", "std", "min", "max", "median", "last"]
Scorer = Literal["iforest", "max_deviation"]
DEFAULT_STATS: Final[tuple[Stat, ...]] = ("mean", "std", "max")
DEFAULT_THRESHOLD_QUANTILE: Final = 0.995
DEFAULT_N_ESTIMATORS: Final = 100
CONSTANT_SPREAD: Final = 1e-6
"""Relative spread given to a column that is constant in training (see robust_location_spread)."""


class DetectorError(PredMaintError, ValueError):
    """The detector cannot be fitted or applied to this frame (no numeric columns, too few rows)."""

    status = 422
    code = "detector_error"


@dataclass(frozen=True)
class DetectorConfig:
    """One configuration, applied the same way to every frame.

    ``window``: rows per rolling window for raw recordings, or several (one feature set per
    scale); ``None`` when the frame is already made of windows (our feature view). ``stats``:
    statistics per column and window. ``scorer``: see the module docstring. ``max_samples``:
    IsolationForest sub-sample size per tree (``"auto"`` = min(256, n)); with ``window`` it is
    capped at the training rows left after the warm-up. ``threshold_quantile`` (in (0, 1], 1 = the
    largest training score) and ``threshold_margin`` (>= 1): see the module docstring.
    """

    window: int | tuple[int, ...] | None = None
    stats: tuple[Stat, ...] = DEFAULT_STATS
    scorer: Scorer = "iforest"
    n_estimators: int = DEFAULT_N_ESTIMATORS
    max_samples: int | Literal["auto"] = "auto"
    threshold_quantile: float = DEFAULT_THRESHOLD_QUANTILE
    threshold_margin: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold_quantile <= 1.0:
            raise DetectorError(f"threshold_quantile must be in (0, 1], got {self.threshold_quantile}")
        if not self.threshold_margin >= 1.0:
            raise DetectorError(f"threshold_margin must be >= 1, got {self.threshold_margin}")
        if any(w < 1 for w in self.scales):
            raise DetectorError(f"window must be >= 1 rows, got {self.window}")
        if self.n_estimators < 1:
            raise DetectorError(f"n_estimators must be >= 1, got {self.n_estimators}")
        if self.scorer not in ("iforest", "max_deviation"):
            raise DetectorError(f"scorer must be 'iforest' or 'max_deviation', got {self.scorer!r}")

    @property
    def scales(self) -> tuple[int, ...]:
        """The window lengths in rows; empty when the frame is already windowed."""
        if self.window is None:
            return ()
        return (self.window,) if isinstance(self.window, int) else tuple(self.window)

    @property
    def warmup(self) -> int:
        """Leading rows whose longest window is not yet full."""
        return max(self.scales, default=1) - 1


def numeric_columns(frame: pd.DataFrame, exclude: Sequence[str] = ()) -> list[str]:
    """Numeric, non-boolean columns of ``frame`` in order, without ``exclude``."""
    return [
        c
        for c in frame.columns
        if c not in exclude
        and pd.api.types.is_numeric_dtype(frame[c])
        and not pd.api.types.is_bool_dtype(frame[c])
    ]


def window_features(
    frame: pd.DataFrame, columns: Sequence[str], window: int, stats: Sequence[Stat]
) -> pd.DataFrame:
    """Causal rolling statistics over the last ``window`` rows of each column (``<col>_<stat>``).

    The first rows use the rows available so far (``min_periods=1``); ``std`` of a single row is 0.
    """
    out: dict[str, pd.Series] = {}
    for col in columns:
        series = frame[col].astype("float64")
        roll = series.rolling(window, min_periods=1)
        for stat in stats:
            if stat == "last":
                values = series
            elif stat == "std":
                values = roll.std(ddof=0).fillna(0.0)
            else:
                values = getattr(roll, stat)()
            out[f"{col}_{stat}"] = values
    return pd.DataFrame(out, index=frame.index)


def robust_location_spread(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column median and a robust spread in standard-deviation units: 1.4826 x MAD; where the
    MAD is 0 (a column that mostly sits on one value, e.g. a quantised flow rate), 1.2533 x the
    mean absolute deviation; where that is 0 too (a constant column), a millionth of its value, so
    any later change of that column counts as a large deviation."""
    centre = np.median(x, axis=0)
    dev = np.abs(x - centre)
    spread = 1.4826 * np.median(dev, axis=0)
    spread = np.where(spread > 0, spread, 1.2533 * dev.mean(axis=0))
    return centre, np.where(spread > 0, spread, CONSTANT_SPREAD * np.maximum(np.abs(centre), 1.0))


@dataclass
class Detector:
    """Fit on normal data, then score new data. See the module docstring."""

    config: DetectorConfig = field(default_factory=DetectorConfig)
    columns: Sequence[str] | None = None
    """Input columns; ``None`` = every numeric column of the frame given to :meth:`fit`."""
    model: IsolationForest | None = None
    threshold: float = float("nan")
    feature_names: list[str] = field(default_factory=list)
    training_scores: np.ndarray | None = None
    centre: np.ndarray | None = None
    """``max_deviation``: each feature's training median."""
    spread: np.ndarray | None = None
    """``max_deviation``: each feature's robust training spread."""

    def features(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The model's input matrix for ``frame`` (windowed when ``config.window`` is set)."""
        cols = list(self.columns) if self.columns is not None else numeric_columns(frame)
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise DetectorError(f"frame has no column(s) {missing}")
        if not cols:
            raise DetectorError("frame has no numeric columns to learn from")
        scales = self.config.scales
        if not scales:
            return frame[cols].astype("float64")
        if len(scales) == 1:
            return window_features(frame, cols, scales[0], self.config.stats)
        parts = [window_features(frame, cols, w, self.config.stats).add_suffix(f"_{w}") for w in scales]
        return pd.concat(parts, axis=1)

    def fit(self, frame: pd.DataFrame) -> Detector:
        from sklearn.ensemble import IsolationForest

        if self.columns is None:
            self.columns = numeric_columns(frame)
        x = self.features(frame)
        warmup = self.config.warmup if len(x) - self.config.warmup >= 2 else 0
        x = x.iloc[warmup:]
        if len(x) < 2:
            raise DetectorError(f"need at least 2 rows to fit, got {len(x)}")
        if not np.isfinite(x.to_numpy()).all():
            raise DetectorError("training frame holds NaN or infinite values")
        self.feature_names = list(x.columns)
        values = x.to_numpy(dtype=np.float32)
        if self.config.scorer == "max_deviation":
            self.centre, self.spread = robust_location_spread(values.astype(np.float64))
            self.training_scores = self._deviation(values)
        else:
            max_samples = self.config.max_samples
            if isinstance(max_samples, int) and self.config.scales:
                max_samples = min(max_samples, len(values))
            self.model = IsolationForest(
                n_estimators=self.config.n_estimators,
                max_samples=max_samples,
                random_state=self.config.seed,
            ).fit(values)
            self.training_scores = -self.model.score_samples(values)
        quantile = float(np.quantile(self.training_scores, self.config.threshold_quantile))
        self.threshold = self.config.threshold_margin * quantile
        return self

    def _deviation(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(self._deviations(values).max(axis=1), dtype=np.float64)

    def _deviations(self, values: np.ndarray) -> np.ndarray:
        assert self.centre is not None and self.spread is not None
        return np.asarray(np.abs((values.astype(np.float64) - self.centre) / self.spread))

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        """Anomaly scores (higher = more anomalous), one per row."""
        x = self.features(frame).to_numpy(dtype=np.float32)
        if self.config.scorer == "max_deviation":
            if self.centre is None:
                raise DetectorError("detector is not fitted")
            return self._deviation(x)
        if self.model is None:
            raise DetectorError("detector is not fitted")
        return np.asarray(-self.model.score_samples(x), dtype=np.float64)

    def top_feature(self, frame: pd.DataFrame) -> list[str]:
        """``max_deviation``: per row, the feature (``<column>_<stat>[_<window>]``) whose deviation
        is the score, so an alert names its sensor."""
        if self.config.scorer != "max_deviation" or self.centre is None:
            raise DetectorError("top_feature needs a fitted 'max_deviation' detector")
        x = self.features(frame).to_numpy(dtype=np.float32)
        return [self.feature_names[i] for i in self._deviations(x).argmax(axis=1)]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Boolean anomaly flags: ``score >= threshold``."""
        return self.score(frame) >= self.threshold
