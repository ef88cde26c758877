"""What can happen to the fleet: failure modes (ground truth) and fleet-wide drift (not a failure).

A failure mode shows in one machine's sensors before it fails; a drift scenario moves every machine's
readings from a moment on and never ends in a failure. Magnitudes of a drift are drawn once per seed
within documented ranges (see ``simulator/CALIBRATION.md``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from simulator.seeding import Purpose, rng_for


class FailureMode(StrEnum):
    bearing_wear = "bearing_wear"
    """Vibration climbs over days (3-7 d onset), spikier readings, a little heat near the end."""
    cooling_fault = "cooling_fault"
    """Temperature creeps up +3..8 degC over 2-4 days, then runs away over 12-36 h to a trip."""
    imbalance = "imbalance"
    """A vibration step 1.25-3 d before the failure, then a slow further rise."""


class DriftScenario(StrEnum):
    ambient_temperature_shift = "ambient_temperature_shift"
    """Every temperature +8..12 degC (hot weather, a moved hall), ramped in over 6 h."""
    vibration_gain_change = "vibration_gain_change"
    """Every vibration sensor reads x1.3..1.5 after a recalibration: a step."""
    high_speed_regime = "high_speed_regime"
    """Every machine runs 20-30 % faster (new production plan); vibration follows speed, ramped over 1 h."""


@dataclass(frozen=True)
class DriftEffect:
    """The fleet-wide change a drift scenario makes once fully ramped in (identity = no change)."""

    temperature_offset_c: float = 0.0
    vibration_gain: float = 1.0
    speed_factor: float = 1.0
    ramp_s: float = 0.0
    """Linear ramp from no effect to the full effect, starting at the drift time."""


NO_DRIFT = DriftEffect()

AMBIENT_SHIFT_C = (8.0, 12.0)
VIBRATION_GAIN = (1.3, 1.5)
SPEED_FACTOR = (1.2, 1.3)


def drift_effect(scenario: DriftScenario | None, seed: int) -> DriftEffect:
    """The magnitude of ``scenario`` for this seed (drawn uniformly within the documented range)."""
    if scenario is None:
        return NO_DRIFT
    u = float(rng_for(seed, Purpose.drift).random())
    if scenario is DriftScenario.ambient_temperature_shift:
        lo, hi = AMBIENT_SHIFT_C
        return DriftEffect(temperature_offset_c=lo + (hi - lo) * u, ramp_s=6 * 3600.0)
    if scenario is DriftScenario.vibration_gain_change:
        lo, hi = VIBRATION_GAIN
        return DriftEffect(vibration_gain=lo + (hi - lo) * u)
    lo, hi = SPEED_FACTOR
    return DriftEffect(speed_factor=lo + (hi - lo) * u, ramp_s=3600.0)


def ramp(t_s: np.ndarray, at_s: float, ramp_s: float) -> np.ndarray:
    """0 before ``at_s``, 1 after ``at_s + ramp_s``, linear in between (a step when ramp_s is 0)."""
    if ramp_s <= 0:
        return (t_s >= at_s).astype(np.float64)
    return np.clip((t_s - at_s) / ramp_s, 0.0, 1.0)
