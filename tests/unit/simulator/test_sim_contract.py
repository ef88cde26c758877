"""Every simulated reading satisfies the telemetry contract, even in the harshest settings."""

from __future__ import annotations

import pandas as pd
import pytest

from core.contract import READINGS_ADAPTER, SENSORS
from features.validate import READING_COLUMNS, validate_frame
from simulator.fleet import FleetConfig, FleetSimulator
from simulator.scenarios import DriftScenario

HARSH = [
    FleetConfig(machines=4, days=2.0, seed=0),
    FleetConfig(
        machines=4,
        days=6.0,
        seed=2,
        failures_per_machine_month=20.0,
        degradation_scale=3.0,
        healthy_days_min=0.5,
        drift=DriftScenario.high_speed_regime,
        drift_at_days=1.0,
    ),
    FleetConfig(
        machines=3,
        days=2.0,
        seed=3,
        interval_s=7,
        drift=DriftScenario.ambient_temperature_shift,
        drift_at_days=0.5,
    ),
]


@pytest.mark.parametrize("config", HARSH, ids=["default", "degraded-fast", "short-interval"])
def test_every_reading_passes_the_contract(config: FleetConfig) -> None:
    readings = FleetSimulator(config).history().readings
    assert list(readings.columns) == list(READING_COLUMNS)
    checked = validate_frame(readings)
    assert len(checked) == len(readings)
    for spec in SENSORS:
        assert readings[spec.name].between(spec.minimum, spec.maximum).all()
    # the same rows also pass the per-reading model the HTTP edge uses
    sample = readings.sample(n=min(500, len(readings)), random_state=0)
    READINGS_ADAPTER.validate_python(sample.to_dict(orient="records"))


def test_machines_frame_names_every_machine_and_its_type() -> None:
    result = FleetSimulator(FleetConfig(machines=7, days=0.5)).history()
    assert list(result.machines.columns) == ["machine_id", "machine_type"]
    assert set(result.machines["machine_id"]) == set(result.readings["machine_id"])
    assert set(result.machines["machine_type"]) == {"pump", "fan", "compressor"}


def test_nominal_fleet_is_healthy_by_iso_10816() -> None:
    """Healthy machines run in zone A/B: hourly mean vibration below 2.8 mm/s."""
    readings = (
        FleetSimulator(FleetConfig(machines=9, days=2.0, failures_per_machine_month=0.0)).history().readings
    )
    hourly = readings.set_index("timestamp").groupby("machine_id")["vibration_rms_mm_s"].resample("1h").mean()
    assert hourly.max() < 2.8
    per_type = readings.groupby(readings["machine_id"].str[1:].astype(int) % 3)[
        "rotational_speed_rpm"
    ].median()
    assert per_type.min() > 900 and per_type.max() < 3100


@pytest.mark.parametrize(
    "bad",
    [
        {"drift": "ambient_temperature_shift"},
        {"drift_at_days": 3.0},
        {"failure_modes": {"bearing_wear": 0.0}},
        {"repair_hours": (5.0, 2.0)},
        {"start": pd.Timestamp("2026-01-01 00:00:00.5", tz="UTC").to_pydatetime()},
        {"start": pd.Timestamp("2026-01-01").to_pydatetime()},
    ],
)
def test_nonsense_settings_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        FleetConfig.model_validate(bad)
