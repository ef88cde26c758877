"""The Redis databases the benchmarks own and flush, one per section, apart from the tests' (13)."""

from __future__ import annotations

import os
from typing import Final

from features.store import DEFAULT_REDIS_PORT

FEATURES_DB: Final = 14
SERVING_DB: Final = 12
FEATURES_REDIS_URL: Final = os.environ.get(
    "PREDMAINT_BENCH_REDIS_URL", f"redis://127.0.0.1:{DEFAULT_REDIS_PORT}/{FEATURES_DB}"
)
SERVING_REDIS_URL: Final = os.environ.get(
    "PREDMAINT_BENCH_SERVING_REDIS_URL", f"redis://127.0.0.1:{DEFAULT_REDIS_PORT}/{SERVING_DB}"
)
