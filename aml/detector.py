"""A reusable anomaly detector for numeric sensor frames: windowed features, IsolationForest, and a
decision threshold calibrated as a quantile of the training scores.

It works on any numeric frame:

- our feature view is already windowed (hourly statistics per machine), so it is used as is
  (``DetectorConfig(window=None)``) over ``MODEL_FEATURES``;
- a raw sensor recording (e.g. SKAB at ~1 Hz) gets rolling statistics over the last ``window`` rows
  of every numeric column (``window_features``), computed causally (only past rows), so a score at
  row *t* never looks ahead.

Scores follow the project's convention: **higher means more anomalous**
(``anomaly_score = -IsolationForest.score_samples``, in (0, 1]), and ``score >= threshold`` is an
anomaly.

The threshold is ``quantile(training scores, threshold_quantile)``: the share of *training* windows
that would alert is ``1 - threshold_quantile``. That is an alert budget stated in the data's own
units, rather than a guess at contamination; it does not assume the training data holds anomalies.
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
DEFAULT_STATS: Final[tuple[Stat, ...]] = ("mean", "std", "max")
DEFAULT_THRESHOLD_QUANTILE: Final = 0.995
DEFAULT_N_ESTIMATORS: Final = 100


class DetectorError(PredMaintError, ValueError):
    """The detector cannot be fitted or applied to this frame (no numeric columns, too few rows)."""

    status = 422
    code = "detector_error"


@dataclass(frozen=True)
class DetectorConfig:
    """One configuration, applied the same way to every frame.

    ``window``: rows per rolling window for raw recordings; ``None`` when the frame is already made
    of windows (our feature view). ``stats``: statistics per column and window. ``max_samples``:
    IsolationForest sub-sample size per tree (``"auto"`` = min(256, n)). ``threshold_quantile``:
    see the module docstring.
    """

    window: int | None = None
    stats: tuple[Stat, ...] = DEFAULT_STATS
    n_estimators: int = DEFAULT_N_ESTIMATORS
    max_samples: int | Literal["auto"] = "auto"
    threshold_quantile: float = DEFAULT_THRESHOLD_QUANTILE
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold_quantile < 1.0:
            raise DetectorError(f"threshold_quantile must be in (0, 1), got {self.threshold_quantile}")
        if self.window is not None and self.window < 1:
            raise DetectorError(f"window must be >= 1 rows, got {self.window}")
        if self.n_estimators < 1:
            raise DetectorError(f"n_estimators must be >= 1, got {self.n_estimators}")


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

    def features(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The model's input matrix for ``frame`` (windowed when ``config.window`` is set)."""
        cols = list(self.columns) if self.columns is not None else numeric_columns(frame)
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise DetectorError(f"frame has no column(s) {missing}")
        if not cols:
            raise DetectorError("frame has no numeric columns to learn from")
        if self.config.window is None:
            return frame[cols].astype("float64")
        return window_features(frame, cols, self.config.window, self.config.stats)

    def fit(self, frame: pd.DataFrame) -> Detector:
        from sklearn.ensemble import IsolationForest

        if self.columns is None:
            self.columns = numeric_columns(frame)
        x = self.features(frame)
        if len(x) < 2:
            raise DetectorError(f"need at least 2 rows to fit, got {len(x)}")
        if not np.isfinite(x.to_numpy()).all():
            raise DetectorError("training frame holds NaN or infinite values")
        self.feature_names = list(x.columns)
        self.model = IsolationForest(
            n_estimators=self.config.n_estimators,
            max_samples=self.config.max_samples,
            random_state=self.config.seed,
        ).fit(x.to_numpy(dtype=np.float32))
        self.training_scores = -self.model.score_samples(x.to_numpy(dtype=np.float32))
        self.threshold = float(np.quantile(self.training_scores, self.config.threshold_quantile))
        return self

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        """Anomaly scores (higher = more anomalous), one per row."""
        if self.model is None:
            raise DetectorError("detector is not fitted")
        x = self.features(frame)
        return np.asarray(-self.model.score_samples(x.to_numpy(dtype=np.float32)), dtype=np.float64)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Boolean anomaly flags: ``score >= threshold``."""
        return self.score(frame) >= self.threshold
