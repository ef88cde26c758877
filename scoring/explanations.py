"""Which features drove a row's anomaly score: the top contributions, named with their sensor.

The model graph yields each feature's exact share of the score in log2 units (``aml.onnx_export``:
path-shortening credits ``a_f`` of the IsolationForest, ``sum_f a_f = log2(score / baseline)``).
Answers give them in **score units**,

    contribution_f = a_f * (anomaly_score - baseline) / sum_f a_f

one positive factor per row (signs and ranking are those of ``a_f``), so that a row's contributions
over all features **sum to anomaly_score - baseline** (baseline 0.5); where ``sum_f a_f`` is ~0 the
factor is its limit, ``anomaly_score * ln 2``. Positive: the feature pushed the row towards
anomalous. The sensor of a feature comes from ``core.contract.FEATURE_SENSORS`` (the one map).

:func:`top_features` is on the request path: plain Python over one row's few floats is several
times faster than numpy's vector calls on arrays this small, only the ``k`` picked values are
rescaled, the names are built once per feature list, and a full sort of ~20 indices beats
``heapq.nlargest`` (the same order: both are stable).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Final, TypedDict

import numpy as np

from core.contract import FEATURE_SENSORS

TOP_FEATURES: Final = 3
"""Features named per scored row (highest contribution first)."""
FLAT_SUM: Final = 1e-6
"""``|sum_f a_f|`` below this (log2 units) is no deviation: the factor takes its limit."""
_LN2: Final = math.log(2.0)


class TopFeature(TypedDict):
    feature: str
    sensor: str
    contribution: float


def _factor(score: float, total: float, baseline: float) -> float:
    return score * _LN2 if abs(total) < FLAT_SUM else (score - baseline) / total


def to_score_units(scores: np.ndarray, log2_contributions: np.ndarray, baseline: float) -> np.ndarray:
    """Every feature's contribution in score units (``[N, F]`` float64; rows sum to ``score - baseline``)."""
    a = np.asarray(log2_contributions, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    total = a.sum(axis=1)
    flat = np.abs(total) < FLAT_SUM
    factor = np.where(flat, s * _LN2, (s - baseline) / np.where(flat, 1.0, total))
    return a * factor[:, None]


@lru_cache(maxsize=16)
def _named(features: tuple[str, ...]) -> tuple[tuple[tuple[str, str], ...], range]:
    """(feature, sensor) per column, and the columns, of one model's feature list."""
    return tuple((name, FEATURE_SENSORS.get(name, name)) for name in features), range(len(features))


def top_features(
    scores: np.ndarray,
    log2_contributions: np.ndarray,
    features: Sequence[str],
    baseline: float,
    k: int = TOP_FEATURES,
) -> list[list[TopFeature]]:
    """Per row, the ``k`` features with the largest contributions (score units), highest first."""
    if log2_contributions.ndim != 2 or log2_contributions.shape[1] != len(features):
        raise ValueError(f"contributions {log2_contributions.shape} do not match {len(features)} features")
    k = min(k, len(features))
    named, columns = _named(tuple(features))
    out: list[list[TopFeature]] = []
    for score, row in zip(scores.tolist(), log2_contributions.tolist(), strict=True):
        factor = _factor(score, sum(row), baseline)
        out.append(
            [
                {"feature": named[j][0], "sensor": named[j][1], "contribution": row[j] * factor}
                for j in sorted(columns, key=row.__getitem__, reverse=True)[:k]
            ]
        )
    return out
