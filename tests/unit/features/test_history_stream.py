"""Bulk history in slices: the one history writer gives the day files, tail and raw readings that one
whole-history pass gives, and the streaming ingest refuses slices that reach back into written
windows."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pandas as pd
import pytest

from core.contract import CREATED_TIMESTAMP, ENTITY_KEY, EVENT_TIMESTAMP, TIMESTAMP
from core.layout import DataLayout
from features.history_ingest import HistoryIngest, ingest_history
from features.store import read_offline
from features.tail import read_tail
from simulator.fleet import FleetConfig, FleetSimulator
from simulator.history import HISTORY_FILE, slice_hours, slices, write_history
from simulator.labels import write_labels

CONFIG = FleetConfig(machines=5, days=9.5, seed=11)  # past the 7-day baseline; ends mid-day


def _windows(layout: DataLayout) -> pd.DataFrame:
    frame = read_offline(layout).drop(columns=[CREATED_TIMESTAMP])
    return frame.sort_values([ENTITY_KEY, EVENT_TIMESTAMP]).reset_index(drop=True)


def test_sliced_history_equals_one_whole_pass(layout: DataLayout) -> None:
    whole = DataLayout(layout.root.parent / "whole")
    result = FleetSimulator(CONFIG).history()
    write_labels(whole, result)
    expected = ingest_history(whole, result.readings)

    written = write_history(FleetSimulator(CONFIG), layout)
    assert written.summary is not None
    assert written.summary.model_dump(exclude={"files"}) == expected.model_dump(exclude={"files"})
    assert written.readings == len(result.readings)
    pd.testing.assert_frame_equal(pd.read_parquet(layout.telemetry_dir / HISTORY_FILE), result.readings)
    pd.testing.assert_frame_equal(_windows(layout), _windows(whole), rtol=1e-12, atol=1e-12)
    sliced_tail, whole_tail = read_tail(layout), read_tail(whole)
    assert sliced_tail is not None and whole_tail is not None
    key = [ENTITY_KEY, TIMESTAMP]
    sliced_tail, whole_tail = (t.sort_values(key).reset_index(drop=True) for t in (sliced_tail, whole_tail))
    pd.testing.assert_frame_equal(sliced_tail, whole_tail)
    assert pd.read_parquet(layout.failures_path).equals(result.failures)


def test_slices_end_on_whole_hours_and_cover_the_history() -> None:
    start = CONFIG.start + timedelta(minutes=17)
    parts = list(slices(start, CONFIG.end, 5))
    assert parts[0][0] == start and parts[-1][1] == CONFIG.end
    assert all(a[1] == b[0] for a, b in itertools.pairwise(parts))
    assert all(t1.minute == 0 and t1.second == 0 for _, t1 in parts[:-1])
    assert slice_hours(50, 60) == 24 and slice_hours(2_000, 60) == 1 and slice_hours(100_000, 1) == 1


def test_a_slice_reaching_back_into_written_windows_is_refused(layout: DataLayout) -> None:
    readings = FleetSimulator(FleetConfig(machines=2, days=0.25, seed=1)).history().readings
    ingest = HistoryIngest(layout)
    later = readings[TIMESTAMP] >= readings[TIMESTAMP].min() + timedelta(hours=3)
    ingest.add(readings.loc[later])
    with pytest.raises(ValueError, match="time order"):
        ingest.add(readings.loc[~later])
