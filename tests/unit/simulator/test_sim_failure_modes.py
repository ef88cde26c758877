"""Each failure mode shows in the machine's own sensors well before it fails, and a repair heals it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from functools import cache
from typing import Any

import pandas as pd
import pytest

from simulator.fleet import FleetConfig, FleetSimulator, SimulationResult
from simulator.scenarios import FailureMode

VIB = "vibration_rms_mm_s"
TEMP = "temperature_c"


@cache
def _run(mode: FailureMode) -> SimulationResult:
    config = FleetConfig(
        machines=6, days=12.0, seed=1, failure_modes={mode: 1.0}, failures_per_machine_month=8.0
    )
    return FleetSimulator(config).history()


@pytest.fixture(scope="module", params=list(FailureMode), ids=str)
def run(request: pytest.FixtureRequest) -> tuple[FailureMode, SimulationResult]:
    return request.param, _run(request.param)


def _rows(frame: pd.DataFrame) -> Iterator[Any]:
    """Rows as named tuples; pandas' stubs cannot type their fields, so they are Any here."""
    yield from frame.itertuples()


def _hourly(readings: pd.DataFrame, machine_id: str) -> pd.DataFrame:
    own = readings[readings["machine_id"] == machine_id]
    return own.set_index("timestamp")[[VIB, TEMP]].resample("1h").agg(["mean", "std", "max"]).dropna()


def _completed(result: SimulationResult) -> pd.DataFrame:
    failures = result.failures[result.failures["failure_time"] < pd.Timestamp(result.config.end)]
    assert len(failures) >= 2, "the scenario should produce a few failures to check"
    return failures


def _baseline(hourly: pd.DataFrame, result: SimulationResult) -> pd.DataFrame:
    """The first two days: every machine is healthy for at least healthy_days_min (3 days)."""
    start = pd.Timestamp(result.config.start)
    return hourly[hourly.index < start + timedelta(days=2)]


def _window(
    hourly: pd.DataFrame, failure_time: pd.Timestamp, hours_from: float, hours_to: float
) -> pd.DataFrame:
    lo = failure_time - timedelta(hours=hours_from)
    hi = failure_time - timedelta(hours=hours_to) - timedelta(hours=1)  # whole hours before hours_to
    return hourly[(hourly.index >= lo) & (hourly.index <= hi)]


def test_only_the_chosen_mode_occurs(run: tuple[FailureMode, SimulationResult]) -> None:
    mode, result = run
    assert set(result.failures["mode"]) == {mode.value}
    assert (result.failures["onset_time"] < result.failures["failure_time"]).all()


def test_the_sensors_move_before_the_failure(run: tuple[FailureMode, SimulationResult]) -> None:
    mode, result = run
    for failure in _rows(_completed(result)):
        hourly = _hourly(result.readings, failure.machine_id)
        base = _baseline(hourly, result)
        if mode is FailureMode.cooling_fault:
            # hours before: the last 6 h run far hotter than the machine ever did when healthy
            late = _window(hourly, failure.failure_time, 6, 0)
            assert len(late) >= 4
            assert late[(TEMP, "mean")].mean() > base[(TEMP, "max")].max() + 8.0
            assert late[(TEMP, "std")].mean() > 2 * base[(TEMP, "std")].median()
        else:
            # at least a day before: vibration well above the machine's own healthy level
            early = _window(hourly, failure.failure_time, 30, 24)
            assert len(early) >= 5
            assert early[(VIB, "mean")].min() > base[(VIB, "max")].max()
            assert early[(VIB, "mean")].mean() > 1.4 * base[(VIB, "mean")].median()
            assert early[(VIB, "max")].mean() > 1.4 * base[(VIB, "max")].median()


def test_bearing_wear_ends_in_iso_zone_d() -> None:
    result = _run(FailureMode.bearing_wear)
    for failure in _rows(_completed(result)):
        last = _window(_hourly(result.readings, failure.machine_id), failure.failure_time, 3, 0)
        assert last[(VIB, "mean")].max() > 7.1


def test_no_readings_while_in_repair_and_healthy_after(run: tuple[FailureMode, SimulationResult]) -> None:
    _, result = run
    readings = result.readings
    assert len(result.maintenance) >= 2
    for period in _rows(result.maintenance):
        own = readings[readings["machine_id"] == period.machine_id]
        during = own[(own["timestamp"] >= period.start) & (own["timestamp"] < period.end)]
        assert during.empty
        hours = (period.end - period.start).total_seconds() / 3600
        assert 4 <= hours <= 12
        if period.end + timedelta(hours=12) < pd.Timestamp(result.config.end):
            hourly = _hourly(readings, period.machine_id)
            after = hourly[
                (hourly.index >= period.end.ceil("h")) & (hourly.index < period.end + timedelta(hours=12))
            ]
            base = _baseline(hourly, result)
            assert after[(VIB, "mean")].max() < 1.3 * base[(VIB, "max")].max()
            assert after[(TEMP, "mean")].max() < base[(TEMP, "max")].max() + 3.0


def test_default_fleet_month_has_a_realistic_number_of_failures() -> None:
    counts = []
    for seed in range(4):
        sim = FleetSimulator(FleetConfig(seed=seed))
        failures = sim.failures_before(sim.config.end)
        counts.append(int((failures["failure_time"] < pd.Timestamp(sim.config.end)).sum()))
    assert 6 <= sum(counts) / len(counts) <= 16, counts


def test_cooling_fault_creeps_for_days_before_the_runaway() -> None:
    result = _run(FailureMode.cooling_fault)
    for failure in _rows(_completed(result)):
        degrading_h = (failure.failure_time - failure.onset_time).total_seconds() / 3600
        assert 2 * 24 + 12 <= degrading_h <= 4 * 24 + 36  # creep 2-4 days, then a 12-36 h runaway
        hourly = _hourly(result.readings, failure.machine_id)
        healthy = hourly[hourly.index < failure.onset_time][(TEMP, "mean")].median()
        day_before = _window(hourly, failure.failure_time, 48, 24)
        assert len(day_before) >= 20
        # the whole day before the last day already runs warmer than the machine's healthy median
        assert day_before[(TEMP, "mean")].mean() > healthy + 2.0
