"""Which features drove a row's anomaly score: the top contributions, named with their sensor.

Contributions come from the model graph (``aml.onnx_export``: exact path-shortening credits of the
IsolationForest, in score units, summing to ``anomaly_score - baseline``). This module only ranks
them and names the sensor each feature is computed from (``core.contract.FEATURE_SENSORS``, the one
map). Shared by the facade's response, the inference log and ``score.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, TypedDict

import numpy as np

from core.contract import FEATURE_SENSORS

TOP_FEATURES: Final = 3
"""Features named per scored row (highest contribution first)."""


class TopFeature(TypedDict):
    feature: str
    sensor: str
    contribution: float


def top_features(
    contributions: np.ndarray, features: Sequence[str], k: int = TOP_FEATURES
) -> list[list[TopFeature]]:
    """Per row of ``contributions`` (``[N, len(features)]``), the ``k`` largest, highest first."""
    if contributions.ndim != 2 or contributions.shape[1] != len(features):
        raise ValueError(f"contributions {contributions.shape} do not match {len(features)} features")
    k = min(k, len(features))
    if k == 0 or contributions.shape[0] == 0:
        return [[] for _ in range(contributions.shape[0])]
    # argpartition then a sort of k: the order of the top k, never of the whole row
    part = np.argpartition(-contributions, k - 1, axis=1)[:, :k]
    picked = np.take_along_axis(contributions, part, axis=1)
    order = np.take_along_axis(part, np.argsort(-picked, axis=1, kind="stable"), axis=1)
    values = np.take_along_axis(contributions, order, axis=1).astype(np.float64).tolist()
    names = [(name, FEATURE_SENSORS.get(name, name)) for name in features]
    return [
        [
            {"feature": names[j][0], "sensor": names[j][1], "contribution": v}
            for j, v in zip(idx, vals, strict=True)
        ]
        for idx, vals in zip(order.tolist(), values, strict=True)
    ]
