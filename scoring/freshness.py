"""The ``machine_id`` path's policy: online features of these machines, present, fresh (younger
than the feature view's TTL) and complete, or a domain error that says which are not."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np

from core.contract import FEATURE_TTL
from features.errors import OnlineStoreUnavailable
from scoring.errors import StaleFeatures, UnknownMachine
from scoring.state import FEATURES, ServiceState

NO_STORE = "no online store configured (SCORING_ONLINE_STORE=none)"


async def online_matrix(
    state: ServiceState, machine_ids: list[str]
) -> tuple[np.ndarray, list[dict[str, Any]], tuple[float | None, ...]]:
    """(feature matrix, per-row extras for the answer, event timestamps for the log)."""
    if state.reader is None:
        raise OnlineStoreUnavailable(NO_STORE)
    now = datetime.now(UTC)
    found = await state.reader.read(machine_ids, now)
    unknown = [f.machine_id for f in found if f.values is None]
    if unknown:
        raise UnknownMachine(f"no online features for {', '.join(unknown[:10])}", {"machine_ids": unknown})
    stale = [f for f in found if f.is_stale]
    if stale:
        raise StaleFeatures(
            f"features of {', '.join(f.machine_id for f in stale[:10])} are older than the "
            f"{FEATURE_TTL.total_seconds():.0f} s TTL; refusing to score them",
            {
                "ttl_s": FEATURE_TTL.total_seconds(),
                "machines": [
                    {
                        "machine_id": f.machine_id,
                        "event_timestamp": f.event_timestamp.isoformat() if f.event_timestamp else None,
                        "age_s": f.age_s,
                    }
                    for f in stale
                ],
            },
        )
    rows = []
    extras = []
    event_ts: list[float | None] = []
    for f in found:
        values = [f.values.get(name) for name in FEATURES]
        if any(v is None or not math.isfinite(float(v)) for v in values):
            raise StaleFeatures(
                f"online features of {f.machine_id} are incomplete or not finite; refusing to score them",
                {"machine_id": f.machine_id},
            )
        rows.append(values)
        event_ts.append(f.event_timestamp.timestamp() if f.event_timestamp else None)
        extras.append(
            {
                "machine_id": f.machine_id,
                "event_timestamp": f.event_timestamp.isoformat() if f.event_timestamp else None,
                "feature_age_s": f.age_s,
                "is_sparse": bool(f.is_sparse),
            }
        )
    return np.array(rows, dtype=np.float32), extras, tuple(event_ts)
