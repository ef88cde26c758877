"""Synthetic hourly window features for tests and benchmarks (not shipped): one source, so a model
built by a benchmark sees the same inputs as the tests' model."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.contract import MODEL_FEATURES, STAT_FEATURES


def training_frame(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """Plausible window features: vibration ~3 mm/s, temperature ~60 degC, speed ~1500 rpm."""
    rng = np.random.default_rng(seed)
    centre = {
        "vibration_rms_mm_s": (3.0, 0.5),
        "temperature_c": (60.0, 2.0),
        "rotational_speed_rpm": (1500.0, 50.0),
    }
    cols = {}
    for name, source, stat in STAT_FEATURES:
        mean, spread = centre[source]
        if stat == "std":
            cols[name] = np.abs(rng.normal(spread, spread / 5, rows))
        elif stat == "max":
            cols[name] = rng.normal(mean + 2 * spread, spread, rows)
        else:
            cols[name] = rng.normal(mean, spread, rows)
    for name in MODEL_FEATURES[len(STAT_FEATURES) :]:  # robust deviations: a few sigma at most
        cols[name] = np.abs(rng.normal(0.0, 1.0, rows))
    return pd.DataFrame(cols)[list(MODEL_FEATURES)]
