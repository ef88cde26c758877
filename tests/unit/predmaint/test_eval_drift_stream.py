"""The changepoint stream of ``predmaint eval drift`` on a recording it makes itself: a level change
is an onset within two windows, and the rolling reference adopts the new level (no second onset)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from predmaint.eval_drift import SKAB_REFERENCE_ROWS, SKAB_WINDOW_ROWS, scaled_rates, skab_onsets


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
    # two sustained steps half a window apart, each on a window that mostly holds the new level
    assert change_at <= changed.onsets[0] <= change_at + 2 * SKAB_WINDOW_ROWS
    steady = skab_onsets(_recording(rng, rows, None, step=0.0), times, "calibrated")
    assert steady.onsets == []
    assert steady.checks >= (rows - SKAB_REFERENCE_ROWS - SKAB_WINDOW_ROWS) // 5
    assert steady.drifted_checks / steady.checks <= 0.05


def test_scaled_thresholds_trade_false_alarms_for_detections() -> None:
    margins = [(False, 0.5), (False, 1.2), (True, 1.1), (True, 3.0)]
    assert scaled_rates(margins, 1.0) == (0.5, 1.0)
    assert scaled_rates(margins, 2.0) == (0.0, 0.5)
