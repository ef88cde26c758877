"""The serving benchmark's model and online features: a bundle built once from the tests' synthetic
windows (``tests.synthetic_windows``), and fresh windows of ``MACHINES`` machines in the benchmark's
own Redis database, written by the library's ingest path."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import numpy as np

from bench.redis_db import SERVING_REDIS_URL as REDIS_URL
from core.bundle import Bundle
from core.layout import DataLayout
from tests.synthetic_windows import training_frame

MACHINES: Final = 50
TRAIN_ROWS: Final = 5_000


def serving_bundle(cache: Path) -> Bundle:
    """The benchmark's model (built once, then reused from ``.predmaint/bench``)."""
    from core.bundle import load_bundle

    target = cache / "serving-bundle"
    if (target / "predmaint.json").is_file():
        return load_bundle(target)
    from aml.bundle_builder import build_bundle

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_bundle(training_frame(TRAIN_ROWS), target, seed=0, version="bench")


def seed_redis(layout: DataLayout) -> list[str]:
    """Fresh window features for ``MACHINES`` machines in the bench's Redis DB (flushed first)."""
    import pandas as pd
    import redis

    from core.contract import ENTITY_KEY, TIMESTAMP
    from features.ingest import Ingestor
    from features.store import apply, open_store

    redis.Redis.from_url(REDIS_URL).flushdb()
    store = open_store(layout, online="redis", redis_url=REDIS_URL)
    apply(store)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    ids = [f"m-{i:03d}" for i in range(MACHINES)]
    rng = np.random.default_rng(1)
    rows = []
    for machine in ids:
        for k in range(40):
            rows.append(
                {
                    ENTITY_KEY: machine,
                    TIMESTAMP: now - timedelta(minutes=39 - k),
                    "vibration_rms_mm_s": float(rng.normal(3.0, 0.5)),
                    "temperature_c": float(rng.normal(60.0, 2.0)),
                    "rotational_speed_rpm": float(rng.normal(1500.0, 50.0)),
                }
            )
    Ingestor(store, layout, offline=False, warm_start=False).ingest_frame(pd.DataFrame(rows))
    return ids
