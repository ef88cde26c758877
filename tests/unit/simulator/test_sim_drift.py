"""Drift scenarios move one channel of every machine from the drift time on; the control does not."""

from __future__ import annotations

from datetime import timedelta
from functools import cache

import numpy as np
import pandas as pd
import pytest

from simulator.fleet import FleetConfig, FleetSimulator
from simulator.scenarios import DriftScenario

VIB = "vibration_rms_mm_s"
TEMP = "temperature_c"
SPEED = "rotational_speed_rpm"
BASE = FleetConfig(machines=6, days=4.0, seed=5, failures_per_machine_month=0.0, dropout_prob=0.0)
DRIFT_AT_DAYS = 2.0


@cache
def _readings(drift: DriftScenario | None) -> pd.DataFrame:
    config = (
        BASE if drift is None else BASE.model_copy(update={"drift": drift, "drift_at_days": DRIFT_AT_DAYS})
    )
    return FleetSimulator(FleetConfig.model_validate(config.model_dump())).history().readings


def _day_means(readings: pd.DataFrame, day: float) -> pd.DataFrame:
    """Per-machine means over one whole day (the same hours of day on both sides of the drift)."""
    start = BASE.start + timedelta(days=day)
    day_frame = readings[
        (readings["timestamp"] >= start) & (readings["timestamp"] < start + timedelta(days=1))
    ]
    return day_frame.groupby("machine_id")[[VIB, TEMP, SPEED]].mean()


def _shift(readings: pd.DataFrame) -> pd.DataFrame:
    """Per machine: the day after the drift (fully ramped in) relative to the day before."""
    before = _day_means(readings, DRIFT_AT_DAYS - 1)
    after = _day_means(readings, DRIFT_AT_DAYS + 1)
    return pd.DataFrame(
        {TEMP: after[TEMP] - before[TEMP], VIB: after[VIB] / before[VIB], SPEED: after[SPEED] / before[SPEED]}
    )


def test_control_fleet_stays_put() -> None:
    shift = _shift(_readings(None))
    assert len(shift) == BASE.machines
    assert shift[TEMP].abs().max() < 4.0  # weather and load only: under half the smallest ambient shift
    assert shift[VIB].between(0.9, 1.1).all()
    assert shift[SPEED].between(0.98, 1.02).all()


@pytest.mark.parametrize("scenario", list(DriftScenario), ids=str)
def test_drift_leaves_everything_before_it_untouched(scenario: DriftScenario) -> None:
    at = pd.Timestamp(BASE.start + timedelta(days=DRIFT_AT_DAYS))
    control, drifted = _readings(None), _readings(scenario)
    pd.testing.assert_frame_equal(control[control["timestamp"] < at], drifted[drifted["timestamp"] < at])


def test_ambient_temperature_shift_warms_every_machine() -> None:
    shift, control = _shift(_readings(DriftScenario.ambient_temperature_shift)), _shift(_readings(None))
    excess = shift[TEMP] - control[TEMP]
    assert excess.between(8.0, 12.0).all(), excess
    assert (shift[VIB] / control[VIB]).between(0.98, 1.02).all()
    assert (shift[SPEED] / control[SPEED]).between(0.99, 1.01).all()


def test_vibration_gain_change_scales_every_vibration_sensor() -> None:
    shift, control = _shift(_readings(DriftScenario.vibration_gain_change)), _shift(_readings(None))
    gain = shift[VIB] / control[VIB]
    assert gain.between(1.3, 1.5).all(), gain
    assert np.allclose(gain, gain.iloc[0]), "one gain for the whole fleet"
    assert (shift[TEMP] - control[TEMP]).abs().max() < 0.1


def test_high_speed_regime_speeds_up_every_machine_and_raises_vibration_moderately() -> None:
    shift, control = _shift(_readings(DriftScenario.high_speed_regime)), _shift(_readings(None))
    speed = shift[SPEED] / control[SPEED]
    vib = shift[VIB] / control[VIB]
    assert speed.between(1.2, 1.3).all(), speed
    assert (vib > 1.15).all() and (vib < speed**1.5).all(), vib
    # still healthy: hourly vibration stays below the ISO 10816 alarm zone
    assert _readings(DriftScenario.high_speed_regime)[VIB].quantile(0.999) < 7.1
