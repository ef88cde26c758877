"""The open-window readings file (the local tail, an ingest worker's snapshot): a restart continues
every window exactly, and a tail written by an earlier release (pandas' own Parquet) still loads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from core.contract import CREATED_TIMESTAMP, ENTITY_KEY, TIMESTAMP
from core.layout import DataLayout
from features.aggregate import WindowAggregator
from features.tail import TAIL_FILE, read_tail, write_tail
from features.validate import READING_COLUMNS

START = datetime(2026, 3, 1, tzinfo=UTC)


def _readings(n: int, seed: int, offset_s: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            ENTITY_KEY: [f"m-{i % 7:02d}" for i in range(n)],
            TIMESTAMP: [START + timedelta(seconds=offset_s + 20 * i) for i in range(n)],
            "vibration_rms_mm_s": rng.uniform(1, 8, n),
            "temperature_c": rng.uniform(40, 80, n),
            "rotational_speed_rpm": rng.uniform(1400, 1600, n),
        }
    )[list(READING_COLUMNS)]


def test_a_restart_from_the_tail_continues_every_window_exactly(tmp_path: Path) -> None:
    layout = DataLayout(tmp_path)
    first, then = _readings(3_000, 1), _readings(600, 2, offset_s=20 * 3_000)
    uninterrupted = WindowAggregator()
    uninterrupted.add(first)
    expected = uninterrupted.add(then).windows
    before = WindowAggregator()
    before.add(first)
    write_tail(layout, before.open_readings())
    tail = read_tail(layout)
    assert tail is not None and all(isinstance(m, str) for m in tail[ENTITY_KEY])
    restarted = WindowAggregator()
    restarted.add(tail)
    got = restarted.add(then).windows
    columns = [c for c in expected.columns if c != CREATED_TIMESTAMP]
    pd.testing.assert_frame_equal(got[columns], expected[columns])


def test_a_tail_written_by_pandas_as_earlier_releases_did_still_loads(tmp_path: Path) -> None:
    layout = DataLayout(tmp_path)
    old = _readings(50, 3).sample(frac=1, random_state=0)  # any order: the reader sorts by time
    layout.telemetry_dir.mkdir(parents=True)
    old.to_parquet(layout.telemetry_dir / TAIL_FILE, index=False)
    tail = read_tail(layout)
    assert tail is not None
    pd.testing.assert_frame_equal(
        tail.reset_index(drop=True), old.sort_values(TIMESTAMP).reset_index(drop=True)
    )
