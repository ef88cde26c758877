"""The changepoint stream of ``predmaint eval drift`` on a recording it makes itself: a level change
is one onset, reported where the change began, and the rolling reference adopts the new level (no
second onset); the trade-off over the stated false-alarm probability buys detections with alarms."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from predmaint.eval_drift import (
    SKAB_REFERENCE_ROWS,
    SKAB_WINDOW_ROWS,
    plot_tradeoff,
    scaled_rates,
    skab_onsets,
    skab_tradeoff,
)


def _recording(rng: np.random.Generator, rows: int, change_at: int | None, step: float) -> pd.DataFrame:
    noise = rng.normal(size=(rows, 3))
    x = np.empty_like(noise)
    x[0] = noise[0]
    for t in range(1, rows):
        x[t] = 0.8 * x[t - 1] + 0.6 * noise[t]
    if change_at is not None:
        x[change_at:, 0] += step
    return pd.DataFrame(x, columns=["a", "b", "c"])


def test_a_level_change_is_one_onset_within_a_window_and_a_steady_recording_none() -> None:
    rng = np.random.default_rng(3)
    rows, change_at = 1_400, 800
    times = np.arange(rows, dtype="float64")
    changed = skab_onsets(_recording(rng, rows, change_at, step=4.0), times, "calibrated")
    assert len(changed.onsets) == 1
    # confirmed by two sustained steps, reported at the change's estimated start (drift.changepoint)
    assert abs(changed.onsets[0] - change_at) <= 5
    steady = skab_onsets(_recording(rng, rows, None, step=0.0), times, "calibrated")
    assert steady.onsets == []
    assert steady.checks >= (rows - SKAB_REFERENCE_ROWS - SKAB_WINDOW_ROWS) // 5
    assert steady.drifted_checks / steady.checks <= 0.05


def test_scaled_thresholds_trade_false_alarms_for_detections() -> None:
    margins = [(False, 0.5), (False, 1.2), (True, 1.1), (True, 3.0)]
    assert scaled_rates(margins, 1.0) == (0.5, 1.0)
    assert scaled_rates(margins, 2.0) == (0.0, 0.5)


def _skab_csv(path: Path, frame: pd.DataFrame, anomaly: np.ndarray) -> None:
    out = frame.copy()
    out.insert(0, "datetime", pd.date_range("2020-03-09", periods=len(frame), freq="s"))
    out["anomaly"] = anomaly.astype(float)
    out["changepoint"] = np.r_[0.0, np.diff(anomaly.astype(float)) != 0]
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(path, sep=";", index=False)


def test_a_larger_stated_probability_buys_detections_with_false_alarms(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    files = []
    for i in range(3):
        rows = 1_000
        anomaly = np.zeros(rows, dtype=bool)
        anomaly[700:] = True
        frame = _recording(rng, rows, 700, step=1.5)
        files.append(tmp_path / "valve1" / f"{i}.csv")
        _skab_csv(files[-1], frame, anomaly)
    curve = skab_tradeoff(files, alphas=(0.001, 0.3))["skab/valve1"]
    (strict, a), (loose, b) = curve
    assert strict < loose
    assert a.controls == b.controls > 0 and a.shifts == b.shifts > 0
    assert a.false_alarms <= b.false_alarms and a.detected <= b.detected
    plot_tradeoff({"skab/valve1": curve}, tmp_path / "curve.png")
    assert (tmp_path / "curve.png").read_bytes().startswith(b"\x89PNG")
