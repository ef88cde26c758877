"""Hourly windows: a hand-computed window with a late reading and a duplicate, lateness beyond the
grace period, sparse windows, and the bulk and streaming paths agreeing."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from core.contract import (
    CREATED_TIMESTAMP,
    ENTITY_KEY,
    EVENT_TIMESTAMP,
    IS_SPARSE,
    LATE_GRACE,
    MIN_READINGS_PER_WINDOW,
    READING_COUNT,
    ROTATIONAL_SPEED,
    TEMPERATURE,
    TIMESTAMP,
    VIBRATION,
    VIEW_FEATURES,
)
from features.aggregate import AGGREGATE_COLUMNS, STD_DDOF, WindowAggregator, aggregate_windows
from features.validate import READING_COLUMNS

DAY = datetime(2026, 3, 1, tzinfo=UTC)
V, T, R = VIBRATION.name, TEMPERATURE.name, ROTATIONAL_SPEED.name


def at(hh: int, mm: int) -> datetime:
    return DAY + timedelta(hours=hh, minutes=mm)


def readings(*rows: tuple[str, datetime, float, float, float]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(READING_COLUMNS)).assign(
        **{TIMESTAMP: lambda d: pd.to_datetime(d[TIMESTAMP], utc=True)}
    )


# Arrival order. Window 10:00-11:00 of machine "m" ends up with v=[1,3,2], t=[50,52,54], r=[1000,1010,1020].
FIRST = readings(
    ("m", at(10, 5), 1.0, 50.0, 1000.0),
    ("m", at(10, 20), 3.0, 52.0, 1010.0),
    ("m", at(10, 20), 99.0, 99.0, 9999.0),  # duplicate: the first arrival wins
)
NEXT_HOUR = readings(("m", at(11, 10), 5.0, 60.0, 1100.0))
LATE_IN_GRACE = readings(("m", at(10, 40), 2.0, 54.0, 1020.0))  # 30 min behind the newest: accepted
RESEND = readings(("m", at(10, 5), 1.0, 50.0, 1000.0))  # the same reading again, a batch later
TOO_LATE = readings(
    ("m", at(13, 30), 4.0, 58.0, 1200.0),
    ("m", at(11, 20), 7.0, 70.0, 1300.0),  # 2h10m behind 13:30: beyond LATE_GRACE, rejected
)

EXPECTED_10_11 = {
    f"{V}_mean": 2.0,
    f"{V}_std": math.sqrt(2 / 3),
    f"{V}_max": 3.0,
    f"{T}_mean": 52.0,
    f"{T}_std": math.sqrt(8 / 3),
    f"{T}_max": 54.0,
    f"{R}_mean": 1010.0,
    f"{R}_std": math.sqrt(200 / 3),
    READING_COUNT: 3,
    IS_SPARSE: True,
}


def window(frame: pd.DataFrame, end: datetime) -> pd.Series:
    rows = frame.loc[frame[EVENT_TIMESTAMP] == pd.Timestamp(end)]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def assert_window(row: pd.Series, expected: dict[str, float]) -> None:
    for name, value in expected.items():
        assert row[name] == pytest.approx(value, rel=1e-12), name


def test_std_is_population_std() -> None:
    assert STD_DDOF == 0
    assert timedelta(hours=2) == LATE_GRACE  # the scenario below is built around it


def test_streaming_window_matches_hand_computation_with_late_reading_and_duplicate() -> None:
    agg = WindowAggregator()
    first = agg.add(FIRST)
    assert (first.counts.accepted, first.counts.duplicates) == (2, 1)

    agg.add(NEXT_HOUR)
    late = agg.add(LATE_IN_GRACE)
    assert (late.counts.accepted, late.counts.late) == (1, 0)
    row = window(late.windows, at(11, 0))
    assert row[ENTITY_KEY] == "m" and row["window_start"] == pd.Timestamp(at(10, 0))
    assert_window(row, EXPECTED_10_11)
    assert late.latest.tolist() == [False]  # 11:00-12:00 is the machine's newest window

    resend = agg.add(RESEND)
    assert (resend.counts.accepted, resend.counts.duplicates, len(resend.windows)) == (0, 1, 0)

    too_late = agg.add(TOO_LATE)
    assert (too_late.counts.accepted, too_late.counts.late) == (1, 1)
    assert too_late.windows[EVENT_TIMESTAMP].tolist() == [pd.Timestamp(at(14, 0))]
    assert too_late.latest.tolist() == [True]


def test_bulk_window_matches_hand_computation_in_arrival_order() -> None:
    history = pd.concat([FIRST, NEXT_HOUR, LATE_IN_GRACE, RESEND, TOO_LATE], ignore_index=True)
    windows = aggregate_windows(history)
    assert list(windows.columns) == list(AGGREGATE_COLUMNS)
    assert windows[EVENT_TIMESTAMP].tolist() == [pd.Timestamp(at(h, 0)) for h in (11, 12, 14)]
    assert_window(window(windows, at(11, 0)), EXPECTED_10_11)
    # the 11:20 reading was too late, so 11:00-12:00 holds only the 11:10 one
    assert window(windows, at(12, 0))[READING_COUNT] == 1


@pytest.mark.parametrize(
    ("count", "sparse"), [(MIN_READINGS_PER_WINDOW - 1, True), (MIN_READINGS_PER_WINDOW, False)]
)
def test_window_with_too_few_readings_is_marked_sparse(count: int, sparse: bool) -> None:
    rows = [("m", at(8, i), 2.0, 50.0, 1500.0) for i in range(count)]
    bulk = aggregate_windows(readings(*rows))
    streamed = WindowAggregator().add(readings(*rows)).windows
    for frame in (bulk, streamed):
        assert frame[IS_SPARSE].tolist() == [sparse]
        assert frame[READING_COUNT].tolist() == [count]
        assert frame[f"{V}_std"].tolist() == [0.0]  # defined even for a single reading


def test_single_reading_window_has_finite_features() -> None:
    frame = aggregate_windows(readings(("m", at(8, 0), 2.0, 50.0, 1500.0)))
    numeric = [c for c in AGGREGATE_COLUMNS if c in VIEW_FEATURES and c != IS_SPARSE]
    assert np.isfinite(frame[numeric].to_numpy(dtype=float)).all()


def random_stream(seed: int) -> pd.DataFrame:
    """Three machines, ~6 hours at one reading a minute, shuffled locally (late readings), with
    resent duplicates and a few readings far too late."""
    rng = np.random.default_rng(seed)
    rows = []
    for m in ("a", "b", "c"):
        for i in range(360):
            rows.append((m, DAY + timedelta(minutes=i, seconds=int(rng.integers(0, 60)))))
    frame = pd.DataFrame(rows, columns=[ENTITY_KEY, TIMESTAMP])
    frame[V] = rng.uniform(0, 20, len(frame))
    frame[T] = rng.uniform(20, 90, len(frame))
    frame[R] = rng.uniform(500, 3000, len(frame))
    order = np.argsort(np.arange(len(frame)) % 360 + rng.normal(0, 40, len(frame)))
    frame = frame.iloc[order]
    resent = frame.iloc[-300:].sample(60, random_state=seed)  # recent: duplicates, not late
    too_late = frame.iloc[:5].assign(**{TIMESTAMP: lambda d: d[TIMESTAMP] - timedelta(hours=1)})
    frame = pd.concat([frame, resent, too_late], ignore_index=True)
    frame[TIMESTAMP] = pd.to_datetime(frame[TIMESTAMP], utc=True)
    return frame


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("batch", [1_000, 137])
def test_streaming_and_bulk_give_the_same_windows(seed: int, batch: int) -> None:
    stream = random_stream(seed)
    bulk = aggregate_windows(stream)
    agg = WindowAggregator()
    parts, late, dups = [], 0, 0
    for lo in range(0, len(stream), batch):
        update = agg.add(stream.iloc[lo : lo + batch])
        parts.append(update.windows)
        late += update.counts.late
        dups += update.counts.duplicates
    assert dups >= 40 and late >= 5  # both paths really meet duplicates and late readings
    streamed = (
        pd.concat(parts, ignore_index=True)
        .drop_duplicates([ENTITY_KEY, EVENT_TIMESTAMP], keep="last")
        .sort_values([ENTITY_KEY, EVENT_TIMESTAMP])
        .reset_index(drop=True)
    )
    columns = [c for c in AGGREGATE_COLUMNS if c != CREATED_TIMESTAMP]
    pd.testing.assert_frame_equal(streamed[columns], bulk[columns], check_exact=False, rtol=1e-9)
    assert streamed[READING_COUNT].sum() == len(stream) - late - dups
    # memory stays bounded: only windows that can still change are held
    assert agg.open_windows <= 3 * (LATE_GRACE // timedelta(hours=1) + 2)


def test_revisions_of_a_window_get_later_created_timestamps() -> None:
    agg = WindowAggregator()
    first = agg.add(FIRST, created_at=DAY)
    second = agg.add(LATE_IN_GRACE, created_at=DAY + timedelta(seconds=1))
    assert second.windows[CREATED_TIMESTAMP].iloc[0] > first.windows[CREATED_TIMESTAMP].iloc[0]
    assert str(second.windows[CREATED_TIMESTAMP].dtype) == "datetime64[ns, UTC]"
