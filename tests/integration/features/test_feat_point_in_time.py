"""Point-in-time correctness: historical features never come from after the entity row's time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from feast import FeatureStore

from core.contract import ENTITY_KEY, EVENT_TIMESTAMP, FEATURE_TTL, READING_COUNT, VIBRATION
from core.layout import DataLayout
from features.relative import windows_of
from features.store import apply, historical_features, open_store, write_offline

MEAN = f"{VIBRATION.name}_mean"


@pytest.fixture
def store_with_history(
    layout: DataLayout, day: datetime, hour_readings: Callable[..., pd.DataFrame]
) -> FeatureStore:
    """Machine m: windows ending 01:00, 02:00, 03:00 with vibration mean 1, 2, 3; the 02:00 window is
    revised later by a late reading batch (mean 2 -> 2.5); machine n: one window ending 05:00."""
    created = day + timedelta(days=1)
    first = pd.concat([hour_readings("m", h, float(h + 1)) for h in range(3)] + [hour_readings("n", 4, 9.0)])
    write_offline(layout, windows_of(first, created_at=created))
    revised = pd.concat([hour_readings("m", 1, 2.0), hour_readings("m", 1, 3.0, start_minute=30)])
    write_offline(layout, windows_of(revised, created_at=created + timedelta(minutes=5)))
    store = open_store(layout)
    apply(store)
    return store


def entity_rows(machine: str, *times: datetime) -> pd.DataFrame:
    return pd.DataFrame({ENTITY_KEY: machine, EVENT_TIMESTAMP: pd.to_datetime(list(times), utc=True)})


def test_features_come_from_the_newest_window_ended_at_or_before_the_row(
    store_with_history: FeatureStore, day: datetime
) -> None:
    h = lambda hh, mm=0: day + timedelta(hours=hh, minutes=mm)  # noqa: E731
    rows = entity_rows("m", h(0, 30), h(1), h(1, 59), h(2), h(2, 30), h(5, 30), h(6, 30))
    out = historical_features(store_with_history, rows)
    assert out[EVENT_TIMESTAMP].tolist() == rows[EVENT_TIMESTAMP].tolist()  # every row, in order
    means = out[MEAN].tolist()
    # 00:30: no window has ended yet; 01:59 must not see the 02:00 window; 02:00 sees the revision;
    # 06:30 is more than FEATURE_TTL after the last window ended at 03:00
    assert timedelta(hours=3) == FEATURE_TTL
    assert np.isnan(means[0]) and np.isnan(means[-1])
    assert means[1:-1] == [1.0, 1.0, 2.5, 2.5, 3.0]
    assert out[READING_COUNT].iloc[3] == 60


def test_random_rows_never_see_the_future(store_with_history: FeatureStore, day: datetime) -> None:
    rng = np.random.default_rng(0)
    minutes = rng.integers(0, 8 * 60, 60)
    times = [day + timedelta(minutes=int(m)) for m in minutes]
    rows = pd.concat([entity_rows("m", *times[:30]), entity_rows("n", *times[30:])], ignore_index=True)
    out = historical_features(store_with_history, rows)
    assert len(out) == len(rows)
    # window ends per machine, and the value each window carries
    ends = {"m": {1: 1.0, 2: 2.5, 3: 3.0}, "n": {5: 9.0}}
    for machine, at, got in zip(rows[ENTITY_KEY], rows[EVENT_TIMESTAMP], out[MEAN], strict=True):
        hours = (at - pd.Timestamp(day)) / timedelta(hours=1)
        visible = [e for e in ends[machine] if e <= hours and hours - e <= 3]
        expected = ends[machine][max(visible)] if visible else np.nan
        assert got == pytest.approx(expected, nan_ok=True), (machine, at, got)
