"""Rows the model flags are failures, not drift: left out of the window check unless fleet-wide."""

from __future__ import annotations

import pandas as pd

from drift.monitor import select_rows


def _window(n: int) -> tuple[pd.DataFrame, list[float]]:
    return pd.DataFrame({"x": [float(i) for i in range(n)]}), [1_700_000_000.0 + i for i in range(n)]


def test_flagged_rows_are_left_out_and_counted() -> None:
    frame, ts = _window(10)
    flags = [i in (0, 9) for i in range(10)]
    kept, info = select_rows(frame, ts, flags, exclude_anomalies=True, max_anomaly_share=0.5)
    assert kept["x"].tolist() == [float(i) for i in range(1, 9)]
    assert (info.rows, info.anomalies_excluded, info.anomaly_share) == (8, 2, 0.2)
    assert info.first_ts is not None and info.first_ts.timestamp() == 1_700_000_001.0


def test_a_fleet_wide_change_keeps_every_row_and_says_so() -> None:
    frame, ts = _window(10)
    kept, info = select_rows(
        frame, ts, [i < 6 for i in range(10)], exclude_anomalies=True, max_anomaly_share=0.5
    )
    assert len(kept) == 10 and info.anomalies_excluded == 0
    assert info.note is not None and "fleet-wide" in info.note


def test_exclusion_can_be_switched_off() -> None:
    frame, ts = _window(4)
    kept, info = select_rows(
        frame, ts, [True, False, False, False], exclude_anomalies=False, max_anomaly_share=0.5
    )
    assert len(kept) == 4 and info.anomaly_share == 0.25
