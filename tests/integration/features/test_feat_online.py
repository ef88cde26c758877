"""Online store: SQLite reads with age and stale flag, a real Redis round trip, and the Ingestor
pushing updated windows (same-hour revisions must land in Redis too)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pandas as pd
import pytest
from feast import FeatureStore

from core.contract import (
    BASELINE_DAYS_FEATURE,
    BASELINE_IS_COLD,
    EVENT_TIMESTAMP,
    FEATURE_TTL,
    MODEL_FEATURES,
    READING_COUNT,
    VIBRATION,
    TelemetryBatch,
)
from core.layout import DataLayout
from features.errors import StoreNotApplied
from features.ingest import Ingestor, ingest_history
from features.relative import windows_of
from features.store import (
    apply,
    materialize,
    offline_files,
    open_store,
    read_offline,
    read_online,
    write_offline,
)

MEAN = f"{VIBRATION.name}_mean"
HourReadings = Callable[..., pd.DataFrame]


def batch(frame: pd.DataFrame) -> TelemetryBatch:
    return TelemetryBatch.model_validate({"readings": frame.to_dict(orient="records")})


def test_sqlite_read_reports_age_and_stale_flag(
    layout: DataLayout, day: datetime, hour_readings: HourReadings
) -> None:
    readings = pd.concat([hour_readings("fresh", 5, 2.0, n=40), hour_readings("sparse", 5, 4.0, n=5)])
    write_offline(layout, windows_of(readings))
    store = open_store(layout)
    apply(store)
    summary = materialize(store)
    assert summary.machines_written == 2

    end = day + timedelta(hours=6)
    soon = read_online(store, ["fresh", "sparse", "unknown"], now=end + timedelta(minutes=30))
    fresh, sparse, unknown = soon
    assert fresh.event_timestamp == end and fresh.age_s == 1800.0 and not fresh.is_stale
    assert fresh.values is not None and fresh.values[MEAN] == 2.0 and fresh.values[READING_COUNT] == 40
    assert fresh.model_input() == [fresh.values[name] for name in MODEL_FEATURES]
    assert sparse.is_sparse and not fresh.is_sparse
    assert unknown.values is None and unknown.is_stale and unknown.age_s is None

    late = read_online(store, ["fresh"], now=end + FEATURE_TTL + timedelta(seconds=1))[0]
    assert late.is_stale and late.values is not None  # values still come back, flagged


def test_reading_before_apply_says_to_apply(layout: DataLayout) -> None:
    store = open_store(layout)
    with pytest.raises(StoreNotApplied, match="sensor_stats_view") as info:
        read_online(store, ["m"])
    assert "predmaint features apply" in str(info.value.hint)


def ingest_and_read(
    store: FeatureStore, layout: DataLayout, machine: str, day: datetime, hour_readings: HourReadings
) -> None:
    """Push a window, revise it twice within the same hour (more readings, higher vibration), then a
    late reading for an older window: the online row must follow every same-hour revision and must
    not go back to the older window."""
    ingestor = Ingestor(store, layout, warm_start=False, background=False)  # the test flushes
    end = day + timedelta(hours=3)
    first = ingestor.ingest(batch(hour_readings(machine, 2, 1.0, n=10)))
    assert (first.accepted, first.windows_updated, first.pushed_online) == (10, 1, 1)
    row = read_online(store, [machine], now=end)[0]
    assert row.values is not None and row.values[READING_COUNT] == 10 and row.event_timestamp == end

    second = ingestor.ingest(batch(hour_readings(machine, 2, 3.0, n=10, start_minute=10)))
    assert second.pushed_online == 1
    row = read_online(store, [machine], now=end)[0]
    assert row.values is not None and row.values[READING_COUNT] == 20 and row.values[MEAN] == 2.0
    assert row.event_timestamp == end  # the revision never shows in the event time

    resent = ingestor.ingest(batch(hour_readings(machine, 2, 3.0, n=5, start_minute=10)))
    assert (resent.accepted, resent.duplicates, resent.pushed_online) == (0, 5, 0)

    # an update of the previous hour (late, within grace) goes offline only
    ingestor.ingest(batch(hour_readings(machine, 1, 7.0, n=3)))
    row = read_online(store, [machine], now=end)[0]
    assert row.values is not None and row.values[READING_COUNT] == 20 and row.event_timestamp == end

    assert ingestor.flush() == 2  # queued revisions collapse to one row per window
    offline = read_offline(layout)
    mine = offline.loc[offline["machine_id"] == machine].set_index(EVENT_TIMESTAMP)
    assert mine[READING_COUNT].to_dict() == {end - timedelta(hours=1): 3, end: 20}


def test_ingestor_pushes_same_hour_updates_to_sqlite(
    layout: DataLayout, day: datetime, hour_readings: HourReadings, machine_ids: Callable[[int], list[str]]
) -> None:
    store = open_store(layout)
    apply(store)
    ingest_and_read(store, layout, machine_ids(1)[0], day, hour_readings)


def test_ingestor_pushes_same_hour_updates_to_redis(
    layout: DataLayout,
    redis_url: str,
    day: datetime,
    hour_readings: HourReadings,
    machine_ids: Callable[[int], list[str]],
) -> None:
    store = open_store(layout, "redis", redis_url)
    apply(store)
    ingest_and_read(store, layout, machine_ids(1)[0], day, hour_readings)


def test_redis_round_trip_after_materialize(
    layout: DataLayout,
    redis_url: str,
    day: datetime,
    hour_readings: HourReadings,
    machine_ids: Callable[[int], list[str]],
) -> None:
    machines = machine_ids(3)
    readings = pd.concat(
        [hour_readings(m, h, float(i + h)) for i, m in enumerate(machines) for h in range(3)],
        ignore_index=True,
    )
    ingest_history(layout, readings)
    windows = read_offline(layout)
    store = open_store(layout, "redis", redis_url)
    apply(store)
    assert materialize(store).machines_written == 3
    rows = read_online(store, machines, now=day + timedelta(hours=3))
    for i, (machine, row) in enumerate(zip(machines, rows, strict=True)):
        newest = windows.loc[windows["machine_id"] == machine].iloc[-1]
        assert row.machine_id == machine and row.event_timestamp == day + timedelta(hours=3)
        assert row.values == pytest.approx(
            {name: float(newest[name]) for name in (*MODEL_FEATURES, BASELINE_DAYS_FEATURE, READING_COUNT)}
        )
        assert row.baseline_is_cold == bool(newest[BASELINE_IS_COLD])  # one day of history: cold
        assert row.values is not None and row.values[MEAN] == float(i + 2)
        assert row.age_s == 0.0 and not row.is_stale


def test_live_ingest_continues_the_windows_history_left_open(
    layout: DataLayout, day: datetime, hour_readings: HourReadings
) -> None:
    """History ends mid-hour; the live Ingestor (warm start) adds the rest of that hour to the same
    window instead of starting it over with only the new readings."""
    ingest_history(layout, hour_readings("m", 4, 1.0, n=30))
    store = open_store(layout)
    apply(store)
    ingestor = Ingestor(store, layout)
    assert ingestor.warmed_readings == 30
    result = ingestor.ingest(batch(hour_readings("m", 4, 3.0, n=30, start_minute=30)))
    assert result.windows_updated == 1
    row = read_online(store, ["m"], now=day + timedelta(hours=5))[0]
    assert row.values is not None and row.values[READING_COUNT] == 60 and row.values[MEAN] == 2.0
    ingestor.flush()
    assert len(offline_files(layout)) == 1 and read_offline(layout)[READING_COUNT].tolist() == [60]


def test_restarted_ingestor_continues_open_windows_from_its_checkpoint(
    layout: DataLayout, day: datetime, hour_readings: HourReadings
) -> None:
    """A facade restart (close, new Ingestor) keeps the readings of the windows that were open, so
    the window after the restart holds all of them, offline and online."""
    store = open_store(layout)
    apply(store)
    before = Ingestor(store, layout)
    before.ingest(batch(hour_readings("m", 4, 1.0, n=30)))
    before.close()
    after = Ingestor(store, layout)
    assert after.warmed_readings == 30
    after.ingest(batch(hour_readings("m", 4, 3.0, n=30, start_minute=30)))
    row = read_online(store, ["m"], now=day + timedelta(hours=5))[0]
    assert row.values is not None and row.values[READING_COUNT] == 60 and row.values[MEAN] == 2.0
    after.close()
    assert read_offline(layout)[READING_COUNT].tolist() == [60]
