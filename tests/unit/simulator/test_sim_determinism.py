"""The same seed gives the same fleet, and any interval regenerates exactly as part of the history."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from simulator.fleet import FleetConfig, FleetSimulator
from simulator.stream import stream_readings

CONFIG = FleetConfig(machines=5, days=3.0, seed=7, failures_per_machine_month=15.0)


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return FleetSimulator(CONFIG).history().readings


def test_two_runs_with_one_seed_are_identical(history: pd.DataFrame) -> None:
    again = FleetSimulator(CONFIG).history()
    pd.testing.assert_frame_equal(again.readings, history, check_exact=True)
    first = FleetSimulator(CONFIG).history()
    pd.testing.assert_frame_equal(again.failures, first.failures)
    pd.testing.assert_frame_equal(again.maintenance, first.maintenance)


def test_another_seed_gives_other_readings(history: pd.DataFrame) -> None:
    other = FleetSimulator(CONFIG.model_copy(update={"seed": 8})).history().readings
    assert not other["vibration_rms_mm_s"].head(100).equals(history["vibration_rms_mm_s"].head(100))


@pytest.mark.parametrize(
    ("offset", "length"),
    [
        (timedelta(hours=30, minutes=7, seconds=13), timedelta(hours=26)),
        (timedelta(0), timedelta(minutes=1)),
        (timedelta(hours=71), timedelta(hours=1)),
    ],
)
def test_readings_between_equals_the_slice_of_history(
    history: pd.DataFrame, offset: timedelta, length: timedelta
) -> None:
    t0 = CONFIG.start + offset
    t1 = t0 + length
    window = FleetSimulator(CONFIG).readings_between(t0, t1)
    expected = history[(history["timestamp"] >= t0) & (history["timestamp"] < t1)].reset_index(drop=True)
    assert len(window) > 0
    pd.testing.assert_frame_equal(window, expected, check_exact=True)


def test_a_longer_history_starts_with_the_shorter_one(history: pd.DataFrame) -> None:
    longer = FleetSimulator(CONFIG.model_copy(update={"days": 4.0})).history()
    head = longer.readings[longer.readings["timestamp"] < CONFIG.end].reset_index(drop=True)
    pd.testing.assert_frame_equal(head, history, check_exact=True)


def test_a_machine_is_the_same_in_a_bigger_fleet(history: pd.DataFrame) -> None:
    bigger = FleetSimulator(CONFIG.model_copy(update={"machines": 8})).history().readings
    for machine_id in ("M001", "M005"):
        ours = history[history["machine_id"] == machine_id].reset_index(drop=True)
        theirs = bigger[bigger["machine_id"] == machine_id].reset_index(drop=True)
        pd.testing.assert_frame_equal(ours, theirs, check_exact=True)


def test_stream_continues_the_history_without_a_seam(history: pd.DataFrame) -> None:
    sim = FleetSimulator(CONFIG)
    start = CONFIG.start + timedelta(days=1)
    batches = list(stream_readings(sim, start, speedup=3600, batch_seconds=1, end=CONFIG.end, realtime=False))
    assert [t for t, _ in batches][-1] == CONFIG.end
    streamed = pd.concat([b for _, b in batches], ignore_index=True)
    expected = history[history["timestamp"] >= start].reset_index(drop=True)
    pd.testing.assert_frame_equal(streamed, expected, check_exact=True)


def test_readings_are_time_ordered_on_the_interval_grid(history: pd.DataFrame) -> None:
    assert history["timestamp"].is_monotonic_increasing
    assert str(history["timestamp"].dt.tz) == "UTC"
    offsets = (history["timestamp"] - pd.Timestamp(CONFIG.start)).dt.total_seconds()
    assert (offsets % CONFIG.interval_s == 0).all()
    assert not history.duplicated(["machine_id", "timestamp"]).any()


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        FleetSimulator(CONFIG).readings_between(CONFIG.start.replace(tzinfo=None), CONFIG.end)


def test_a_fleet_whose_noise_spills_to_disk_has_the_same_readings(
    history: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a fleet past SPILL_BYTES draws its noise in groups of machines through a temporary file;
    # forcing that path (and groups of two machines) must not change a single reading
    import simulator.noise

    monkeypatch.setattr(simulator.noise, "SPILL_BYTES", 0)
    monkeypatch.setattr(simulator.noise, "GROUP_BYTES", 2 * 4 * 1440 * 8)
    sim = FleetSimulator(CONFIG)
    assert sim._noise._spill
    t0 = CONFIG.start + timedelta(hours=20)
    parts = [
        sim.readings_between(t0 + timedelta(hours=h), t0 + timedelta(hours=h + 3)) for h in range(0, 30, 3)
    ]
    spilled = pd.concat(parts, ignore_index=True)
    expected = history[(history["timestamp"] >= t0) & (history["timestamp"] < t0 + timedelta(hours=30))]
    pd.testing.assert_frame_equal(spilled, expected.reset_index(drop=True), check_exact=True)
