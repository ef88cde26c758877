"""Relative features: a machine's fault shows against its own baseline and its peers, a fleet-wide
shift cancels against the peers, cold machines say so, bulk and streaming agree, no look-ahead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from core.contract import (
    BASELINE_DAYS,
    BASELINE_DAYS_FEATURE,
    BASELINE_IS_COLD,
    CREATED_TIMESTAMP,
    ENTITY_KEY,
    EVENT_TIMESTAMP,
    MIN_BASELINE_DAYS,
    STAT_FEATURES,
)
from features.aggregate import AGGREGATE_COLUMNS, WINDOW_START
from features.relative import RELATIVE_COLUMNS, RelativeState, with_relative

T = "temperature_c_mean"
T_OWN, T_PEERS = f"{T}_vs_own", f"{T}_vs_peers"
START = datetime(2026, 1, 1, tzinfo=UTC)
TYPES = {f"p{i}": "pump" for i in range(8)} | {f"c{i}": "compressor" for i in range(4)}


def fleet(
    days: int, *, shift_from_h: int | None = None, fault: tuple[str, int] | None = None
) -> pd.DataFrame:
    """Hourly windows of 12 machines with a daily cycle and noise; optional fleet-wide +8 degC shift
    from hour ``shift_from_h``; optional +6 degC fault of one machine from an hour on."""
    rng = np.random.default_rng(3)
    rows = []
    for h in range(days * 24):
        end = START + timedelta(hours=h + 1)
        for i, (m, kind) in enumerate(TYPES.items()):
            level = (35.0 if kind == "pump" else 55.0) + 0.7 * i + 2.0 * np.sin(2 * np.pi * h / 24)
            temp = level + 0.3 * rng.standard_normal()
            if shift_from_h is not None and h >= shift_from_h:
                temp += 8.0
            if fault is not None and m == fault[0] and h >= fault[1]:
                temp += 6.0
            row = {name: 1.0 + 0.01 * rng.standard_normal() for name, _, _ in STAT_FEATURES}
            rows.append(
                row
                | {
                    ENTITY_KEY: m,
                    EVENT_TIMESTAMP: end,
                    WINDOW_START: end - timedelta(hours=1),
                    T: temp,
                    "reading_count": 60,
                    "is_sparse": False,
                    CREATED_TIMESTAMP: end,
                }
            )
    frame = pd.DataFrame(rows)
    for c in (EVENT_TIMESTAMP, WINDOW_START, CREATED_TIMESTAMP):
        frame[c] = pd.to_datetime(frame[c], utc=True)
    return frame[list(AGGREGATE_COLUMNS)]


def at(frame: pd.DataFrame, machine: str, hour: int) -> pd.Series:
    row = frame.loc[
        (frame[ENTITY_KEY] == machine) & (frame[EVENT_TIMESTAMP] == START + timedelta(hours=hour + 1))
    ]
    assert len(row) == 1
    return row.iloc[0]


def test_a_single_machines_fault_stands_out_against_itself_and_its_peers() -> None:
    out = with_relative(fleet(10, fault=("p2", 9 * 24)), TYPES)
    faulty, healthy = at(out, "p2", 9 * 24 + 5), at(out, "p5", 9 * 24 + 5)
    assert faulty[T_OWN] > 5 and faulty[T_PEERS] > 5
    assert abs(healthy[T_OWN]) < 3 and abs(healthy[T_PEERS]) < 3


def test_a_fleet_wide_shift_cancels_against_the_peers_but_not_against_the_own_baseline() -> None:
    out = with_relative(fleet(10, shift_from_h=9 * 24), TYPES)
    late = out.loc[out[EVENT_TIMESTAMP] > START + timedelta(days=9, hours=2)]
    assert late[T_OWN].abs().median() > 5  # every machine is warmer than its own last week
    assert late[T_PEERS].abs().quantile(0.95) < 3  # ... but not warmer than its peers


def test_a_new_machine_uses_its_types_baseline_and_says_so() -> None:
    """p7 joins on day 8 running 6 degC warmer than a pump should: with no week of its own, the
    type's week is its baseline, so the excess shows from its first hour and it says it is cold."""
    frame = fleet(10, fault=("p7", 0))
    new = frame.loc[(frame[ENTITY_KEY] == "p7") & (frame[EVENT_TIMESTAMP] > START + timedelta(days=8))]
    frame = pd.concat([frame.loc[frame[ENTITY_KEY] != "p7"], new], ignore_index=True)
    out = with_relative(frame, TYPES)
    first_day = at(out, "p7", 8 * 24 + 3)
    assert bool(first_day[BASELINE_IS_COLD]) and first_day[BASELINE_DAYS_FEATURE] == 0
    assert first_day[T_OWN] > 2
    old = at(out, "p1", 8 * 24 + 3)
    assert not bool(old[BASELINE_IS_COLD]) and old[BASELINE_DAYS_FEATURE] == BASELINE_DAYS
    assert abs(old[T_OWN]) < 3
    assert MIN_BASELINE_DAYS <= BASELINE_DAYS


def test_features_of_a_window_do_not_depend_on_later_windows() -> None:
    full = with_relative(fleet(10, fault=("p2", 9 * 24 + 6)), TYPES)
    frame = fleet(10, fault=("p2", 9 * 24 + 6))
    early = with_relative(frame.loc[frame[EVENT_TIMESTAMP] <= START + timedelta(days=9, hours=4)], TYPES)
    merged = early.merge(full, on=[ENTITY_KEY, EVENT_TIMESTAMP], suffixes=("", "_full"))
    for column in RELATIVE_COLUMNS:
        np.testing.assert_allclose(
            merged[column].to_numpy(float), merged[f"{column}_full"].to_numpy(float), err_msg=column
        )


@pytest.mark.parametrize("hours_per_batch", [1, 5])
def test_streaming_gives_the_bulk_values(hours_per_batch: int) -> None:
    """Batches of whole hours, except that c1's windows arrive after its peers' (a slow device):
    the peers' rows of those hours are revised when c1's arrive, and p4 stops for 3 h (its day
    means restart); the newest revision of every window equals the bulk path's."""
    frame = fleet(9, fault=("c1", 8 * 24))
    stop = (frame[ENTITY_KEY] == "p4") & frame[EVENT_TIMESTAMP].between(
        START + timedelta(days=8, hours=2), START + timedelta(days=8, hours=4)
    )
    frame = frame.loc[~stop].reset_index(drop=True)
    bulk = with_relative(frame, TYPES)
    state = RelativeState(
        TYPES, with_relative(frame.loc[frame[EVENT_TIMESTAMP] <= START + timedelta(days=7)], TYPES)
    )
    streamed = []
    hours = sorted(frame.loc[frame[EVENT_TIMESTAMP] > START + timedelta(days=7), EVENT_TIMESTAMP].unique())
    for lo in range(0, len(hours), hours_per_batch):
        batch = frame.loc[frame[EVENT_TIMESTAMP].isin(hours[lo : lo + hours_per_batch])]
        late = (batch[ENTITY_KEY] == "c1").to_numpy()
        streamed.append(state.update(batch.loc[~late]))
        streamed.append(state.update(batch.loc[late]))
    newest = pd.concat(streamed).drop_duplicates([ENTITY_KEY, EVENT_TIMESTAMP], keep="last")
    got = newest.merge(bulk, on=[ENTITY_KEY, EVENT_TIMESTAMP], suffixes=("", "_bulk"))
    assert len(got) == len(hours) * len(TYPES) - int(stop.sum())
    for column in RELATIVE_COLUMNS:
        # the same functions on the same grids: equal to the last bit, not just close
        np.testing.assert_array_equal(
            got[column].to_numpy(float), got[f"{column}_bulk"].to_numpy(float), err_msg=column
        )


def test_running_cooler_than_usual_is_no_excess() -> None:
    """After a repair a machine runs cooler than the degraded week in its baseline: not a fault."""
    cooler = fleet(10)
    cooler.loc[(cooler[ENTITY_KEY] == "p3") & (cooler[EVENT_TIMESTAMP] > START + timedelta(days=9)), T] -= 6.0
    out = with_relative(cooler, TYPES)
    row = at(out, "p3", 9 * 24 + 5)
    assert row[T_OWN] == 0.0 and row[T_PEERS] == 0.0


def joining_on_day_8(frame: pd.DataFrame, machine: str) -> pd.DataFrame:
    """``frame`` with ``machine``'s windows before day 8 removed (it joins the fleet then)."""
    late = frame.loc[(frame[ENTITY_KEY] == machine) & (frame[EVENT_TIMESTAMP] > START + timedelta(days=8))]
    return pd.concat([frame.loc[frame[ENTITY_KEY] != machine], late], ignore_index=True)


def test_a_new_machine_running_a_little_warmer_than_its_type_is_not_news() -> None:
    """p7 runs at the warm end of the pumps: from its first own day on, its baseline is the type's
    moved by its own offset, so it does not stand out; one far outside its type still does."""
    normal = with_relative(joining_on_day_8(fleet(10), "p7"), TYPES)
    second_day = at(normal, "p7", 9 * 24 + 3)
    assert bool(second_day[BASELINE_IS_COLD]) and second_day[BASELINE_DAYS_FEATURE] == 1
    assert second_day[T_OWN] < 1
    hot = fleet(10)
    hot.loc[hot[ENTITY_KEY] == "p7", T] += 30.0
    assert at(with_relative(joining_on_day_8(hot, "p7"), TYPES), "p7", 9 * 24 + 3)[T_OWN] > 5


def test_the_day_means_restart_after_a_repair_stop() -> None:
    """p2 runs hot for 20 h, stops for 6 h (repair) and comes back healthy: its first hours after
    the stop carry none of the hot day in their day means."""
    frame = fleet(10, fault=("p2", 8 * 24))
    hot_until, back = 8 * 24 + 20, 8 * 24 + 26
    hour = (frame[EVENT_TIMESTAMP] - START) / timedelta(hours=1) - 1
    p2 = frame[ENTITY_KEY] == "p2"
    frame = frame.loc[~(p2 & (hour >= hot_until) & (hour < back))]
    frame.loc[p2 & (hour >= back), T] -= 6.0
    out = with_relative(frame.reset_index(drop=True), TYPES)
    day_mean = f"{T_OWN}_24h"
    assert at(out, "p2", hot_until - 1)[day_mean] > 5
    assert at(out, "p2", back + 1)[day_mean] < 1
