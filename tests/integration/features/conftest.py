"""Fixtures for the feature store tests: windows with known values, stores on a fresh data dir."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from core.contract import ENTITY_KEY, SENSOR_NAMES, TIMESTAMP, VIBRATION
from features.validate import READING_COLUMNS

DAY = datetime(2026, 3, 1, tzinfo=UTC)
HourReadings = Callable[..., pd.DataFrame]


def _hour_readings(
    machine: str, hour: int, vibration: float, n: int = 30, start_minute: int = 0
) -> pd.DataFrame:
    """``n`` readings of one machine within hour ``hour`` of DAY, every vibration equal to ``vibration``."""
    ts = pd.date_range(DAY + timedelta(hours=hour, minutes=start_minute), periods=n, freq="min")
    frame = pd.DataFrame({ENTITY_KEY: machine, TIMESTAMP: ts})
    for name in SENSOR_NAMES:
        frame[name] = 50.0
    frame[VIBRATION.name] = vibration
    frame["rotational_speed_rpm"] = 1500.0 + np.arange(n, dtype=float)
    return frame[list(READING_COLUMNS)]


@pytest.fixture
def machine_ids() -> Callable[[int], list[str]]:
    """Machine ids unique to this test, so tests sharing a Redis database never see each other's keys."""
    prefix = uuid.uuid4().hex[:8]
    return lambda n: [f"t{prefix}-{i:03d}" for i in range(n)]


@pytest.fixture
def day() -> datetime:
    """Midnight of the day the test data covers."""
    return DAY


@pytest.fixture
def hour_readings() -> HourReadings:
    """``hour_readings(machine, hour, vibration, n=30, start_minute=0)``: readings within one hour."""
    return _hour_readings
