"""The fleet simulator: deterministic telemetry, failures and drift for a fleet of rotating machines.

Readings lie on a fixed grid (``start + k * interval_s``). Noise for machine ``m`` in time chunk ``c``
(one day of readings) comes from its own seeded stream (see ``simulator.seeding``), and everything
else is a deterministic function of time, so ``readings_between(t0, t1)`` equals the same slice of
``history()`` and live streaming continues the history without a seam.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Self

import numpy as np
import pandas as pd
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from core.contract import (
    ENTITY_KEY,
    FAILURE_COLUMNS,
    FAILURE_MODE,
    FAILURE_TIME,
    MACHINE_TYPE,
    MAINTENANCE_COLUMNS,
    MAINTENANCE_END,
    MAINTENANCE_START,
    ONSET_TIME,
    ROTATIONAL_SPEED,
    TEMPERATURE,
    TIMESTAMP,
    VIBRATION,
)
from features.validate import READING_COLUMNS
from simulator.failures import (
    DAY_S,
    SPEED_NOISE,
    Effects,
    FailureEvent,
    FailureSettings,
    schedule,
)
from simulator.machines import MACHINE_TYPES, FleetProfiles
from simulator.noise import FleetNoise
from simulator.scenarios import DriftEffect, DriftScenario, FailureMode, drift_effect, ramp

DEFAULT_START: Final = datetime(2026, 1, 1, tzinfo=UTC)
CHUNK_S: Final = 86400
"""Length of one noise chunk (readings per chunk = CHUNK_S // interval_s, at least 1)."""
MONTH_DAYS: Final = 30.0

MACHINES_COLUMNS: Final = (ENTITY_KEY, MACHINE_TYPE)

DEFAULT_MODE_WEIGHTS: Final = {
    FailureMode.bearing_wear: 0.45,
    FailureMode.imbalance: 0.3,
    FailureMode.cooling_fault: 0.25,
}


class FleetConfig(BaseModel):
    """What to simulate. Defaults: 50 machines, 30 days from 2026-01-01 UTC, one reading a minute."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    machines: int = Field(default=50, ge=1, le=10_000)
    days: float = Field(default=30.0, gt=0, le=3650)
    start: AwareDatetime = DEFAULT_START
    interval_s: int = Field(default=60, ge=1, le=3600, description="seconds between readings of a machine")
    seed: int = Field(default=0, ge=0)
    drift: DriftScenario | None = None
    drift_at_days: float | None = Field(default=None, ge=0, description="days after start when drift begins")
    failures_per_machine_month: float = Field(
        default=0.3,
        ge=0,
        le=30,
        description="hazard of a new degradation per machine per 30 days once a machine has been healthy "
        "for healthy_days_min; about 12 failures on 50 machines x 30 days",
    )
    failure_modes: dict[FailureMode, float] = Field(
        default_factory=lambda: dict(DEFAULT_MODE_WEIGHTS),
        description="relative weight of each failure mode",
    )
    healthy_days_min: float = Field(
        default=3.0, ge=0, description="healthy days after start and after each repair"
    )
    repair_hours: tuple[float, float] = (4.0, 12.0)
    degradation_scale: float = Field(
        default=1.0, gt=0, le=3, description="multiplies every failure signature (1 = calibrated)"
    )
    dropout_prob: float = Field(default=0.001, ge=0, lt=0.5, description="chance that a reading is lost")

    @field_validator("start")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.microsecond:
            raise ValueError("start must be a whole second (the reading grid is in whole seconds)")
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.drift is None) != (self.drift_at_days is None):
            raise ValueError("drift and drift_at_days go together: set both or neither")
        if any(w < 0 for w in self.failure_modes.values()) or sum(self.failure_modes.values()) <= 0:
            raise ValueError("failure_modes weights must be non-negative with a positive sum")
        lo, hi = self.repair_hours
        if not 0 < lo <= hi:
            raise ValueError("repair_hours must be (low, high) with 0 < low <= high")
        return self

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)

    @property
    def drift_time(self) -> datetime | None:
        return None if self.drift_at_days is None else self.start + timedelta(days=self.drift_at_days)


@dataclass(frozen=True)
class SimulationResult:
    """A simulated history.

    ``failures`` lists every failure whose onset lies before the end, so that each degraded reading
    is explained (a failure may therefore be after the end); ``maintenance`` lists the repair periods
    (no readings) that start before the end."""

    config: FleetConfig
    readings: pd.DataFrame
    failures: pd.DataFrame
    maintenance: pd.DataFrame
    machines: pd.DataFrame


def _ns(t: datetime) -> int:
    if t.tzinfo is None:
        raise ValueError(f"timezone-aware datetimes only, got naive {t!r}")
    return int(pd.Timestamp(t).as_unit("ns").value)


def _utc(seconds: list[float]) -> pd.Series:
    return pd.Series(pd.to_datetime(np.array(seconds, dtype=np.float64), unit="s", utc=True)).dt.round("us")


class FleetSimulator:
    """A deterministic fleet: ``history()`` for bulk data, ``readings_between()`` for any interval
    (live streaming), ``failures_before()`` / ``maintenance_before()`` for ground truth."""

    def __init__(self, config: FleetConfig | None = None) -> None:
        self.config = config or FleetConfig()
        c = self.config
        self.profiles = FleetProfiles.sample(c.seed, c.machines)
        self.drift: DriftEffect = drift_effect(c.drift, c.seed)
        self._start_ns = _ns(c.start)
        self._interval_ns = c.interval_s * 1_000_000_000
        self._chunk = max(1, CHUNK_S // c.interval_s)
        self._settings = FailureSettings(
            rate_per_day=c.failures_per_machine_month / MONTH_DAYS,
            mode_weights=dict(c.failure_modes),
            healthy_min_s=c.healthy_days_min * DAY_S,
            repair_s=(c.repair_hours[0] * 3600.0, c.repair_hours[1] * 3600.0),
        )
        self._drift_s = None if c.drift_time is None else _ns(c.drift_time) / 1e9
        self._events: list[FailureEvent] = []
        self._horizon_s = -np.inf
        self._noise = FleetNoise(c.seed, c.machines, self._chunk)
        # Healthy vibration at average load, the reference for how far a bearing has to degrade.
        self._baseline_vibration = self.profiles.vibration_mm_s[:, 0]

    # --- public ---------------------------------------------------------------------------------

    @property
    def machines(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                ENTITY_KEY: list(self.profiles.machine_ids),
                "machine_type": [str(t) for t in self.profiles.types],
            }
        )

    def events(self, until: datetime) -> list[FailureEvent]:
        """Every failure event (all machines) whose onset is before ``until``, by onset."""
        until_s = _ns(until) / 1e9
        self._ensure_events(until_s)
        return [e for e in self._events if e.onset_s < until_s]

    def failures_before(self, until: datetime) -> pd.DataFrame:
        """Failures whose onset is before ``until``: machine_id, failure_time, mode, onset_time."""
        events = self.events(until)
        ids = self.profiles.machine_ids
        frame = pd.DataFrame(
            {
                ENTITY_KEY: [ids[e.machine_index] for e in events],
                FAILURE_TIME: _utc([e.failure_s for e in events]),
                FAILURE_MODE: [str(e.mode) for e in events],
                ONSET_TIME: _utc([e.onset_s for e in events]),
            },
            columns=list(FAILURE_COLUMNS),
        )
        return frame.sort_values([FAILURE_TIME, ENTITY_KEY], ignore_index=True)

    def maintenance_before(self, until: datetime) -> pd.DataFrame:
        """Repair periods (no readings) starting before ``until``: machine_id, start, end."""
        until_s = _ns(until) / 1e9
        events = [e for e in self.events(until) if e.failure_s < until_s]
        ids = self.profiles.machine_ids
        frame = pd.DataFrame(
            {
                ENTITY_KEY: [ids[e.machine_index] for e in events],
                MAINTENANCE_START: _utc([e.failure_s for e in events]),
                MAINTENANCE_END: _utc([e.repair_end_s for e in events]),
            },
            columns=list(MAINTENANCE_COLUMNS),
        )
        return frame.sort_values([MAINTENANCE_START, ENTITY_KEY], ignore_index=True)

    def history(self, progress: Callable[[int, int], None] | None = None) -> SimulationResult:
        """Everything from ``config.start`` to ``config.end``.

        ``progress(done, total)`` is called after each simulated day."""
        c = self.config
        readings = self.readings_between(c.start, c.end, progress=progress)
        return SimulationResult(
            config=c,
            readings=readings,
            failures=self.failures_before(c.end),
            maintenance=self.maintenance_before(c.end),
            machines=self.machines,
        )

    def readings_between(
        self, t0: datetime, t1: datetime, progress: Callable[[int, int], None] | None = None
    ) -> pd.DataFrame:
        """Readings with ``t0 <= timestamp < t1`` (none before ``config.start``; any time after its end).

        Sorted by timestamp, then machine in fleet order. Columns: machine_id, timestamp (UTC),
        vibration_rms_mm_s, temperature_c, rotational_speed_rpm; every value inside the contract range.
        """
        k0 = max(0, -(-(_ns(t0) - self._start_ns) // self._interval_ns))
        k1 = max(k0, -(-(_ns(t1) - self._start_ns) // self._interval_ns))
        if k1 <= k0:
            return self._frame([])
        n = self._chunk
        chunks = range(k0 // n, (k1 - 1) // n + 1)
        self._ensure_events((self._start_ns + k1 * self._interval_ns) / 1e9)
        parts = []
        for done, c in enumerate(chunks, start=1):
            parts.append(self._block(max(k0, c * n), min(k1, (c + 1) * n)))
            if progress is not None:
                progress(done, len(chunks))
        return self._frame(parts)

    # --- internals ------------------------------------------------------------------------------

    def _ensure_events(self, until_s: float) -> None:
        if until_s <= self._horizon_s:
            return
        # Schedule a month beyond what is asked, so a stream does not reschedule every batch.
        horizon = until_s + MONTH_DAYS * DAY_S
        start_s = self._start_ns / 1e9
        events = [
            e
            for i in range(self.config.machines)
            for e in schedule(self.config.seed, i, start_s, horizon, self._settings)
        ]
        self._events = sorted(events, key=lambda e: (e.onset_s, e.machine_index))
        self._horizon_s = horizon

    def _block(self, k0: int, k1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Readings k0..k1 (one chunk at most): timestamps ns (K,), running mask (M, K), values (3, M, K)."""
        c = self.config
        ts_ns = self._start_ns + np.arange(k0, k1, dtype=np.int64) * self._interval_ns
        t_s = ts_ns / 1e9
        shape = (c.machines, k1 - k0)
        d = self.drift
        on = np.zeros(k1 - k0) if self._drift_s is None else ramp(t_s, self._drift_s, d.ramp_s)
        speed_factor = 1.0 + (d.speed_factor - 1.0) * on
        vibration, temperature, speed = self.profiles.healthy_levels(t_s, speed_factor)

        effects = Effects.healthy(shape)
        first, last = t_s[0], t_s[-1]
        for e in self._events:
            if e.onset_s <= last and e.repair_end_s > first:
                effects.apply(e, t_s, float(self._baseline_vibration[e.machine_index]), c.degradation_scale)

        z, u = self._noise.block(k0, k1)
        gain = 1.0 + (d.vibration_gain - 1.0) * on
        values = np.empty((3, *shape))
        values[0] = vibration * effects.vibration_factor * np.exp(effects.vibration_noise * z[0]) * gain
        values[1] = (
            temperature
            + effects.temperature_add_c
            + d.temperature_offset_c * on
            + effects.temperature_noise_c * z[1]
        )
        values[2] = speed * (1.0 + SPEED_NOISE * z[2])
        for row, spec in enumerate((VIBRATION, TEMPERATURE, ROTATIONAL_SPEED)):
            np.clip(values[row], spec.minimum, spec.maximum, out=values[row])
        running = effects.running & (u >= c.dropout_prob)
        return ts_ns, running, values

    def _frame(self, parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> pd.DataFrame:
        ids = np.array(self.profiles.machine_ids, dtype=object)
        columns: dict[str, list[np.ndarray]] = {name: [] for name in READING_COLUMNS}
        for ts_ns, running, values in parts:
            keep = running.T.ravel()  # time-major: (K, M)
            m = running.shape[0]
            columns[ENTITY_KEY].append(np.tile(np.arange(m, dtype=np.int32), len(ts_ns))[keep])
            columns[TIMESTAMP].append(np.repeat(ts_ns, m)[keep])
            for row, spec in enumerate((VIBRATION, TEMPERATURE, ROTATIONAL_SPEED)):
                columns[spec.name].append(values[row].T.ravel()[keep])

        def cat(name: str, dtype: type) -> np.ndarray:
            return np.concatenate(columns[name]) if columns[name] else np.array([], dtype=dtype)

        frame = pd.DataFrame(
            {
                ENTITY_KEY: ids[cat(ENTITY_KEY, np.int32)],
                TIMESTAMP: pd.to_datetime(cat(TIMESTAMP, np.int64), unit="ns", utc=True),
                VIBRATION.name: cat(VIBRATION.name, np.float64),
                TEMPERATURE.name: cat(TEMPERATURE.name, np.float64),
                ROTATIONAL_SPEED.name: cat(ROTATIONAL_SPEED.name, np.float64),
            }
        )
        return frame[list(READING_COLUMNS)]


__all__ = [
    "MACHINE_TYPES",
    "DriftScenario",
    "FailureMode",
    "FleetConfig",
    "FleetSimulator",
    "SimulationResult",
]
