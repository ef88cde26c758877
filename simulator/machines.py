"""Machine types and healthy operation: daily load cycles, machine-to-machine variation.

Numbers and their sources are in ``simulator/CALIBRATION.md``. Healthy operation is a deterministic
function of time (smooth load, ambient temperature); per-reading noise is added by the fleet.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import numpy as np

from simulator.seeding import Purpose, rng_for


class MachineType(StrEnum):
    pump = "pump"
    fan = "fan"
    compressor = "compressor"


@dataclass(frozen=True)
class MachineTypeSpec:
    """Typical values of one machine type at average load (load 0.6)."""

    nominal_speed_rpm: float
    speed_load_coupling: float
    """Relative speed change per unit of load: variable-speed drives follow load, fixed-speed barely."""
    vibration_mm_s: float
    """RMS vibration velocity of a healthy machine (ISO 10816 zone A/B, below 2.8 mm/s)."""
    temperature_rise_c: float
    """Bearing/housing temperature above ambient."""


MACHINE_TYPES: Final[dict[MachineType, MachineTypeSpec]] = {
    MachineType.pump: MachineTypeSpec(1480.0, 0.25, 1.2, 10.0),
    MachineType.fan: MachineTypeSpec(985.0, 0.35, 1.6, 6.0),
    MachineType.compressor: MachineTypeSpec(2950.0, 0.02, 1.9, 28.0),
}
"""Machines take the types in turn (M001 pump, M002 fan, M003 compressor, M004 pump, ...)."""
_TYPES: Final = tuple(MACHINE_TYPES)

AMBIENT_MEAN_C: Final = 27.0
"""AI4I 2020 air temperature median 300.1 K."""
AMBIENT_DAILY_AMPLITUDE_C: Final = 2.5
AMBIENT_WEATHER_AMPLITUDE_C: Final = 1.0
AMBIENT_WEATHER_PERIOD_S: Final = 4.3 * 86400
AVERAGE_LOAD: Final = 0.6
THERMAL_LAG_S: Final = 40 * 60.0
VIBRATION_SPEED_EXPONENT: Final = 1.5
"""Healthy vibration velocity grows with speed (unbalance force ~ speed squared, damped)."""
DRIFT_VIBRATION_SPEED_EXPONENT: Final = 1.2
"""A sustained faster regime raises vibration a bit less than the speed ratio would suggest."""

SLOW_PERIODS_H: Final = ((5.0, 9.0), (17.0, 29.0), (60.0, 120.0))


def machine_id(index: int) -> str:
    """``M001``, ``M002``, ... (1-based, at least three digits)."""
    return f"M{index + 1:03d}"


@dataclass(frozen=True)
class FleetProfiles:
    """Per-machine traits as column vectors (shape ``(M, 1)``) so they broadcast over time."""

    machine_ids: tuple[str, ...]
    types: tuple[MachineType, ...]
    nominal_speed_rpm: np.ndarray
    speed_load_coupling: np.ndarray
    vibration_mm_s: np.ndarray
    temperature_rise_c: np.ndarray
    ambient_offset_c: np.ndarray
    load_base: np.ndarray
    load_amplitude: np.ndarray
    shift_h: np.ndarray
    slow_period_s: np.ndarray
    """shape (M, 3)"""
    slow_phase: np.ndarray
    slow_amplitude: np.ndarray
    weather_phase: float

    @classmethod
    def sample(cls, seed: int, machines: int) -> FleetProfiles:
        """Draw every machine's traits; machine ``i`` is the same in any fleet size for a seed."""
        rows: list[dict[str, object]] = []
        for i in range(machines):
            rng = rng_for(seed, Purpose.profile, i)
            kind = _TYPES[i % len(_TYPES)]
            spec = MACHINE_TYPES[kind]
            rows.append(
                {
                    "type": kind,
                    "speed": spec.nominal_speed_rpm * (1 + 0.02 * rng.standard_normal()),
                    "coupling": spec.speed_load_coupling,
                    "vib": spec.vibration_mm_s * float(np.exp(0.10 * rng.standard_normal())),
                    "rise": spec.temperature_rise_c * (1 + 0.06 * rng.standard_normal()),
                    "ambient": 1.0 * rng.standard_normal(),
                    "load_base": rng.uniform(0.5, 0.65),
                    "load_amp": rng.uniform(0.12, 0.22),
                    "shift": rng.uniform(-1.5, 1.5),
                    "periods": [rng.uniform(lo, hi) * 3600 for lo, hi in SLOW_PERIODS_H],
                    "phases": rng.uniform(0, 2 * np.pi, size=3),
                    "amps": rng.uniform(0.02, 0.05, size=3),
                }
            )
        weather_phase = float(rng_for(seed, Purpose.fleet).uniform(0, 2 * np.pi))

        def col(key: str) -> np.ndarray:
            return np.array([r[key] for r in rows], dtype=np.float64).reshape(machines, -1)

        return cls(
            machine_ids=tuple(machine_id(i) for i in range(machines)),
            types=tuple(r["type"] for r in rows),  # type: ignore[misc]
            nominal_speed_rpm=col("speed"),
            speed_load_coupling=col("coupling"),
            vibration_mm_s=col("vib"),
            temperature_rise_c=col("rise"),
            ambient_offset_c=col("ambient"),
            load_base=col("load_base"),
            load_amplitude=col("load_amp"),
            shift_h=col("shift"),
            slow_period_s=col("periods"),
            slow_phase=col("phases"),
            slow_amplitude=col("amps"),
            weather_phase=weather_phase,
        )

    def load(self, t_abs_s: np.ndarray) -> np.ndarray:
        """Load in [0.15, 1] (shape (M, K)) at epoch seconds ``t_abs_s`` (shape (K,)): a day-shift
        cycle peaking mid-afternoon plus slow process variations."""
        hour = (t_abs_s[None, :] / 3600.0 + self.shift_h) % 24.0
        daily = np.cos(2 * np.pi * (hour - 14.0) / 24.0)
        out = self.load_base + self.load_amplitude * daily
        for j in range(self.slow_period_s.shape[1]):
            period = self.slow_period_s[:, j : j + 1]
            out = out + self.slow_amplitude[:, j : j + 1] * np.sin(
                2 * np.pi * t_abs_s[None, :] / period + self.slow_phase[:, j : j + 1]
            )
        return np.asarray(np.clip(out, 0.15, 1.0), dtype=np.float64)

    def _load_and_lagged(self, t_abs_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Load now and THERMAL_LAG_S earlier; on a regular grid whose step divides the lag, one
        evaluation over a slightly longer grid serves both."""
        if len(t_abs_s) > 1:
            step = float(t_abs_s[1] - t_abs_s[0])
            lag_steps = THERMAL_LAG_S / step
            if lag_steps == round(lag_steps):
                n = int(lag_steps)
                extended = np.concatenate([t_abs_s[0] - step * np.arange(n, 0, -1), t_abs_s])
                both = self.load(extended)
                return both[:, n:], both[:, : len(t_abs_s)]
        return self.load(t_abs_s), self.load(t_abs_s - THERMAL_LAG_S)

    def ambient_c(self, t_abs_s: np.ndarray) -> np.ndarray:
        """Hall temperature: daily cycle peaking at 15:00 UTC, a few-day weather swing, per-hall offset."""
        hour = (t_abs_s / 3600.0) % 24.0
        daily = AMBIENT_DAILY_AMPLITUDE_C * np.cos(2 * np.pi * (hour - 15.0) / 24.0)
        weather = AMBIENT_WEATHER_AMPLITUDE_C * np.sin(
            2 * np.pi * t_abs_s / AMBIENT_WEATHER_PERIOD_S + self.weather_phase
        )
        return AMBIENT_MEAN_C + self.ambient_offset_c + (daily + weather)[None, :]

    def healthy_levels(
        self, t_abs_s: np.ndarray, speed_factor: np.ndarray | float = 1.0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Noise-free (vibration mm/s, temperature degC, speed rpm), each shape (M, K).

        ``speed_factor`` (shape (K,) or scalar) is a fleet-wide regime change (drift)."""
        load, load_lagged = self._load_and_lagged(t_abs_s)
        factor = np.asarray(speed_factor, dtype=np.float64)
        ratio = 1.0 + self.speed_load_coupling * (load - AVERAGE_LOAD)
        speed = self.nominal_speed_rpm * ratio * factor
        vibration = (
            self.vibration_mm_s
            * (0.76 + 0.4 * load)
            * ratio**VIBRATION_SPEED_EXPONENT
            * factor**DRIFT_VIBRATION_SPEED_EXPONENT
        )
        temperature = (
            self.ambient_c(t_abs_s)
            + self.temperature_rise_c * (0.55 + 0.75 * load_lagged)
            + self.temperature_rise_c * 0.3 * (factor - 1.0)
        )
        return vibration, temperature, speed
