"""Failure events: when each machine degrades and fails, and how each mode shows in its sensors.

A machine's events come from its own random stream, drawn in sequence (healthy for at least
``healthy_days_min``, then an exponential wait, an onset, the failure, a repair), so the schedule up
to any horizon is the same whatever horizon is asked for: history and live streaming agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.scenarios import FailureMode
from simulator.seeding import Purpose, rng_for

DAY_S = 86400.0
HOUR_S = 3600.0

ONSET_S: dict[FailureMode, tuple[float, float]] = {
    FailureMode.bearing_wear: (3 * DAY_S, 7 * DAY_S),
    FailureMode.cooling_fault: (12 * HOUR_S, 36 * HOUR_S),
    FailureMode.imbalance: (30 * HOUR_S, 72 * HOUR_S),
}
"""How long before the failure each mode's main signature starts (uniform range). For a cooling
fault this is the final runaway; its slow creep (``COOLING_CREEP_S``) comes before it."""
COOLING_CREEP_S = (2 * DAY_S, 4 * DAY_S)
"""How long a cooling fault creeps (fouling, a weakening fan, slow coolant loss) before the runaway."""
COOLING_CREEP_RISE_C = (3.0, 8.0)
"""Temperature rise at the end of the creep, above the machine's healthy level."""

BEARING_FAILURE_VIBRATION_MM_S = (7.5, 10.5)
"""Vibration at the failure: ISO 10816 zone D (above 7.1 mm/s)."""
BEARING_TEMPERATURE_RISE_C = (4.0, 8.0)
COOLING_TEMPERATURE_RISE_C = (30.0, 45.0)
IMBALANCE_STEP = (2.0, 2.6)
"""Vibration multiplier right after the imbalance appears."""
IMBALANCE_FINAL = (3.2, 4.2)
"""Vibration multiplier at the failure."""

BASE_VIBRATION_NOISE = 0.10
"""Log-normal sigma of a reading's vibration around its level."""
BASE_TEMPERATURE_NOISE_C = 0.25
SPEED_NOISE = 0.003
"""Relative sigma of a reading's speed."""


@dataclass(frozen=True)
class FailureEvent:
    """One failure of one machine; times are epoch seconds (UTC)."""

    machine_index: int
    mode: FailureMode
    onset_s: float
    failure_s: float
    repair_end_s: float
    severity: tuple[float, float]
    """Two uniforms in [0, 1) that place this event's magnitudes within the mode's ranges."""
    creep_s: float = 0.0
    """Seconds of slow creep between ``onset_s`` and the main signature (cooling faults only)."""


@dataclass(frozen=True)
class FailureSettings:
    rate_per_day: float
    mode_weights: dict[FailureMode, float]
    healthy_min_s: float
    repair_s: tuple[float, float]


def schedule(
    seed: int, machine_index: int, start_s: float, horizon_s: float, settings: FailureSettings
) -> list[FailureEvent]:
    """Every event of one machine whose onset is before ``horizon_s``."""
    if settings.rate_per_day <= 0:
        return []
    modes = [m for m in FailureMode if settings.mode_weights.get(m, 0.0) > 0]
    weights = np.array([settings.mode_weights[m] for m in modes], dtype=np.float64)
    weights /= weights.sum()
    rng = rng_for(seed, Purpose.failures, machine_index)
    detail = rng_for(seed, Purpose.failure_detail, machine_index)
    events: list[FailureEvent] = []
    free_s = start_s
    while True:
        # Fixed draws per event, in a fixed order, whatever the mode: the stream never depends
        # on the horizon or on which modes are enabled beyond the choice itself.
        wait, pick, duration_u, repair_u, sev_a, sev_b = rng.random(6)
        onset = free_s + settings.healthy_min_s - np.log1p(-wait) / settings.rate_per_day * DAY_S
        if onset >= horizon_s:
            return events
        mode = modes[min(int(np.searchsorted(np.cumsum(weights), pick, side="right")), len(modes) - 1)]
        # One extra draw per event from its own stream, whatever the mode: the main stream above
        # (and so every bearing or imbalance event) is the same as before the creep existed.
        (creep_u,) = detail.random(1)
        creep = _between(creep_u, COOLING_CREEP_S) if mode is FailureMode.cooling_fault else 0.0
        lo, hi = ONSET_S[mode]
        failure = onset + creep + lo + (hi - lo) * duration_u
        rlo, rhi = settings.repair_s
        repair_end = failure + rlo + (rhi - rlo) * repair_u
        events.append(
            FailureEvent(
                machine_index,
                mode,
                float(onset),
                float(failure),
                float(repair_end),
                (sev_a, sev_b),
                float(creep),
            )
        )
        free_s = repair_end


def _between(u: float, bounds: tuple[float, float]) -> float:
    return bounds[0] + (bounds[1] - bounds[0]) * u


@dataclass
class Effects:
    """Per-reading changes that failures make, for a block of readings (each shape (M, K))."""

    vibration_factor: np.ndarray
    temperature_add_c: np.ndarray
    vibration_noise: np.ndarray
    temperature_noise_c: np.ndarray
    running: np.ndarray
    """False while the machine is down for repair (no readings)."""

    @classmethod
    def healthy(cls, shape: tuple[int, int]) -> Effects:
        return cls(
            vibration_factor=np.ones(shape),
            temperature_add_c=np.zeros(shape),
            vibration_noise=np.full(shape, BASE_VIBRATION_NOISE),
            temperature_noise_c=np.full(shape, BASE_TEMPERATURE_NOISE_C),
            running=np.ones(shape, dtype=bool),
        )

    def apply(
        self, event: FailureEvent, t_s: np.ndarray, baseline_vibration_mm_s: float, scale: float
    ) -> None:
        """Add one event's signature to its machine's row; ``t_s`` is the block's epoch seconds."""
        row = event.machine_index
        lo = int(np.searchsorted(t_s, event.onset_s, side="left"))
        mid = int(np.searchsorted(t_s, event.failure_s, side="left"))
        hi = int(np.searchsorted(t_s, event.repair_end_s, side="left"))
        self.running[row, mid:hi] = False
        if mid <= lo:
            return
        tau = (t_s[lo:mid] - event.onset_s) / (event.failure_s - event.onset_s)
        a, b = event.severity
        sl = (row, slice(lo, mid))
        if event.mode is FailureMode.bearing_wear:
            final = max(_between(a, BEARING_FAILURE_VIBRATION_MM_S) / baseline_vibration_mm_s, 2.0)
            self.vibration_factor[sl] *= 1.0 + scale * (final - 1.0) * tau**2.5
            self.vibration_noise[sl] += scale * 0.2 * tau
            self.temperature_add_c[sl] += scale * _between(b, BEARING_TEMPERATURE_RISE_C) * tau**3
        elif event.mode is FailureMode.cooling_fault:
            self._cooling(event, t_s[lo:mid], sl, scale)
        else:
            step = _between(a, IMBALANCE_STEP)
            final = _between(b, IMBALANCE_FINAL)
            self.vibration_factor[sl] *= 1.0 + scale * ((step - 1.0) + (final - step) * tau)
            self.vibration_noise[sl] += scale * 0.03

    def _cooling(self, event: FailureEvent, t_s: np.ndarray, sl: tuple[int, slice], scale: float) -> None:
        """Slow creep (linear, ``COOLING_CREEP_RISE_C`` over ``creep_s``), then the runaway from the
        creep's level to ``COOLING_TEMPERATURE_RISE_C`` at the failure (``tau^1.2``)."""
        a, b = event.severity
        runaway_s = event.onset_s + event.creep_s
        creep_rise = _between(b, COOLING_CREEP_RISE_C)
        final_rise = _between(a, COOLING_TEMPERATURE_RISE_C)
        creep = np.clip((t_s - event.onset_s) / max(event.creep_s, 1.0), 0.0, 1.0)
        tau = np.clip((t_s - runaway_s) / (event.failure_s - runaway_s), 0.0, 1.0)
        self.temperature_add_c[sl] += scale * (creep_rise * creep + (final_rise - creep_rise) * tau**1.2)
        # A failing cooler cycles (fan/thermostat hunting): the temperature gets restless.
        self.temperature_noise_c[sl] += scale * 1.2 * tau
        self.vibration_factor[sl] *= 1.0 + scale * 0.1 * tau
