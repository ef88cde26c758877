"""SKAB (Skoltech Anomaly Benchmark) protocol: our detector next to SKAB's IsolationForest baseline.

Protocol (SKAB's README and code): for each labelled CSV (``;``-separated, ``datetime`` index,
8 sensor columns, ``anomaly`` and ``changepoint`` labels), the first ``TRAIN_ROWS`` rows train the
detector and the rest are scored; predictions of all files are pooled and scored pointwise:
F1 = TP / (TP + (FP + FN) / 2), FAR = FP / (FP + TN) x 100, MAR = FN / (FN + TP) x 100.

Baseline (as published): ``IsolationForest(random_state=0, contamination=0.0005)`` on the raw
columns, predictions smoothed by a rolling median of 3.

Ours (:data:`SKAB_CONFIG`, one configuration for every file, never tuned per file; its alert
threshold is calibrated on SKAB's ``anomaly-free`` recording, not on labelled files):

- the level of every sensor over the last 5, 15 and 60 rows (5 s, 15 s, 1 min at 1 Hz): causal
  rolling means, so a fault shows as a sustained shift at one of three time scales (a valve that
  closes in seconds, a drift over a minute). SKAB's vibration channels are already per-second RMS,
  so their level is the vibration energy. Rolling spreads and first differences were compared on
  valve1 too and lost: the largest training deviation of a noisy feature lifts the threshold
  more than the fault lifts the score (``docs/detection.md``);
- each feature relative to the training window's own level and spread: ``|x - median| /
  robust spread`` (:func:`aml.detector.robust_location_spread`); the score is the largest over
  features (``scorer="max_deviation"``), and the feature that gives it names the sensor;
- threshold = ``SKAB_MARGIN`` x the largest training score. 400 autocorrelated rows
  underestimate how far normal data wanders in the next 12 minutes, so the margin is the smallest
  of 1, 1.5, 2, 2.5, 3, 4, 5 whose false-alarm rate on the anomaly-free recording, cut into runs
  of the same shape (:data:`CALIBRATION_RUN_ROWS`), is at most :data:`CALIBRATION_FAR`;
- the same alert persistence as the fleet: a point is anomalous when the last ``k = 3`` scores are
  all above the threshold (SKAB's anomalies are contiguous intervals).

``predmaint eval skab`` prints the anomaly-free false-alarm rate next to the labelled figures, so
the calibration is checked in every run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from aml.detector import Detector, DetectorConfig, numeric_columns
from core.errors import PredMaintError

TRAIN_ROWS: Final = 400
LABEL: Final = "anomaly"
CHANGEPOINT: Final = "changepoint"
TIME: Final = "datetime"
SKAB_MARGIN: Final = 3.0
SKAB_CONFIG: Final = DetectorConfig(
    window=(5, 15, 60),
    stats=("mean",),
    scorer="max_deviation",
    threshold_quantile=1.0,
    threshold_margin=SKAB_MARGIN,
)
SKAB_ALERT_K: Final = 3
CALIBRATION_RUN_ROWS: Final = 1150
"""A labelled SKAB run's length (400 training rows + ~750 scored): the anomaly-free recording is cut
into consecutive runs of this many rows for the calibration check."""
CALIBRATION_FAR: Final = 10.0
"""False-alarm rate (%) on anomaly-free runs that chose :data:`SKAB_MARGIN` (8.2 % measured)."""


class SkabError(PredMaintError, ValueError):
    """A file is not a labelled SKAB CSV, or the folder holds none."""

    status = 422
    code = "invalid_skab_data"


@dataclass
class Confusion:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, truth: np.ndarray, pred: np.ndarray) -> None:
        t, p = truth.astype(bool), pred.astype(bool)
        self.tp += int((t & p).sum())
        self.fp += int((~t & p).sum())
        self.fn += int((t & ~p).sum())
        self.tn += int((~t & ~p).sum())

    @property
    def f1(self) -> float:
        denom = self.tp + (self.fp + self.fn) / 2
        return self.tp / denom if denom else 0.0

    @property
    def far(self) -> float:
        return 100.0 * self.fp / (self.fp + self.tn) if self.fp + self.tn else 0.0

    @property
    def mar(self) -> float:
        return 100.0 * self.fn / (self.fn + self.tp) if self.fn + self.tp else 0.0


@dataclass
class SkabReport:
    files: list[Path] = field(default_factory=list)
    test_rows: int = 0
    anomalies: int = 0
    results: dict[str, Confusion] = field(default_factory=dict)
    anomaly_free_runs: int = 0
    anomaly_free: dict[str, Confusion] = field(default_factory=dict)
    """The same detectors on the anomaly-free recording's runs (every row normal: FAR only)."""


def labelled_files(data_dir: Path) -> list[Path]:
    """Every CSV under ``data_dir`` that has an ``anomaly`` column (anomaly-free runs have none)."""
    out = []
    for path in sorted(Path(data_dir).rglob("*.csv")):
        with open(path, encoding="utf-8", errors="replace") as fh:
            header = fh.readline()
        if LABEL in header.strip().split(";"):
            out.append(path)
    return out


def anomaly_free_files(data_dir: Path) -> list[Path]:
    """Every CSV under ``data_dir`` without an ``anomaly`` column (SKAB's ``anomaly-free/``)."""
    labelled = set(labelled_files(data_dir))
    return [p for p in sorted(Path(data_dir).rglob("*.csv")) if p not in labelled]


def anomaly_free_runs(path: Path) -> list[pd.DataFrame]:
    """Consecutive :data:`CALIBRATION_RUN_ROWS`-row runs of an anomaly-free recording, labelled 0."""
    frame = pd.read_csv(path, sep=";")
    if TIME in frame.columns:
        frame = frame.sort_values(TIME, kind="stable").reset_index(drop=True)
    frame[LABEL] = 0.0
    starts = range(0, len(frame) - CALIBRATION_RUN_ROWS + 1, CALIBRATION_RUN_ROWS)
    return [frame.iloc[s : s + CALIBRATION_RUN_ROWS].reset_index(drop=True) for s in starts]


def read_file(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, sep=";")
    if LABEL not in frame.columns:
        raise SkabError(f"{path} has no '{LABEL}' column")
    if TIME in frame.columns:
        frame = frame.sort_values(TIME, kind="stable").reset_index(drop=True)
    return frame


def sensor_columns(frame: pd.DataFrame) -> list[str]:
    return numeric_columns(frame, exclude=(LABEL, CHANGEPOINT))


def baseline_predict(train: pd.DataFrame, test: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """SKAB's published IsolationForest baseline."""
    from sklearn.ensemble import IsolationForest

    clf = IsolationForest(random_state=0, contamination=0.0005).fit(train[columns].to_numpy())
    raw = (clf.predict(test[columns].to_numpy()) == -1).astype(float)
    return pd.Series(raw).rolling(3).median().fillna(0).to_numpy() > 0.5


def k_consecutive(flags: np.ndarray, k: int) -> np.ndarray:
    """True where the last ``k`` flags (this one included) are all true."""
    if k <= 1:
        return flags.astype(bool)
    counts = pd.Series(flags.astype(int)).rolling(k, min_periods=k).sum().fillna(0).to_numpy()
    return counts >= k


def ours_predict(train: pd.DataFrame, test: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Our detector (:data:`SKAB_CONFIG`); windows run over train then test, so the first test
    windows see the end of the training rows, as a live detector would (the training rows only
    fit, never score)."""
    detector = Detector(SKAB_CONFIG, columns=columns).fit(train)
    scores = detector.score(pd.concat([train, test], ignore_index=True))[len(train) :]
    return k_consecutive(scores >= detector.threshold, SKAB_ALERT_K)


DETECTORS: Final[dict[str, Callable[[pd.DataFrame, pd.DataFrame, list[str]], np.ndarray]]] = {
    "ours (multi-scale levels, max robust deviation)": ours_predict,
    "SKAB baseline (IsolationForest)": baseline_predict,
}


def _split(frame: pd.DataFrame, where: object) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    if len(frame) <= TRAIN_ROWS:
        raise SkabError(f"{where} has {len(frame)} rows; the protocol needs more than {TRAIN_ROWS}")
    train, test = frame.iloc[:TRAIN_ROWS], frame.iloc[TRAIN_ROWS:].reset_index(drop=True)
    return train, test, sensor_columns(frame)


def evaluate_files(
    files: Iterable[Path],
    progress: Callable[[Path], None] | None = None,
    anomaly_free: Iterable[Path] = (),
) -> SkabReport:
    """Every detector on every labelled file, and on the runs of each ``anomaly_free`` recording."""
    report = SkabReport(
        results={name: Confusion() for name in DETECTORS},
        anomaly_free={name: Confusion() for name in DETECTORS},
    )
    for path in files:
        train, test, columns = _split(read_file(path), path)
        truth = test[LABEL].to_numpy() > 0.5
        for name, predict in DETECTORS.items():
            report.results[name].add(truth, predict(train, test, columns))
        report.files.append(path)
        report.test_rows += len(test)
        report.anomalies += int(truth.sum())
        if progress:
            progress(path)
    for path in anomaly_free:
        for i, run in enumerate(anomaly_free_runs(path)):
            train, test, columns = _split(run, f"{path} run {i}")
            for name, predict in DETECTORS.items():
                report.anomaly_free[name].add(np.zeros(len(test), dtype=bool), predict(train, test, columns))
            report.anomaly_free_runs += 1
    return report
