"""Prediction drift and alert rate per machine type: fleet drift (retrain) versus faults (alerts).

The model flags a healthy row with probability ``1 - threshold_quantile`` (0.5 % by default). A
machine is *alerting* in the window when at least ``MACHINE_ALERT_MIN_ROWS`` of its rows and at least
``machine_alert_share`` of them are flagged: a healthy machine with 24 hourly rows gets there with
probability about 2.5e-4. What the alerting machines mean depends on how many there are:

- a **few** (less than ``fleet_share`` of the machines seen): faults. They are reported
  (``faults_suspected``) and their rows are left out of the input-drift check, so a failing machine
  neither raises the retrain signal nor hides in the reference comparison;
- **many** (``fleet_share`` or more of the machines, the whole fleet or one machine type): the
  fleet's data moved under the model. That is fleet drift and counts toward the retrain signal.

Prediction drift per machine type is the normalised Wasserstein distance between that type's anomaly
scores in the window and the scores of the model's own reference sample (scored once per reference):
0 means "scores like the training data"; it is reported beside the input scores, and does not decide.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Final

import numpy as np
from pydantic import BaseModel, Field

from drift.calibration import STD_FLOOR

MACHINE_ALERT_MIN_ROWS: Final = 3
DEFAULT_MACHINE_ALERT_SHARE: Final = 0.1
DEFAULT_FLEET_SHARE: Final = 0.3
UNKNOWN_TYPE: Final = "unknown"
"""Label of machines without a known type (and of rows without a machine id)."""


class TypeSignals(BaseModel):
    machines: int
    alerting_machines: int
    alerting_share: float
    flagged_share: float
    """Share of this type's rows the model flagged."""
    prediction_drift_score: float | None = None
    """W1(type's window scores, reference scores) / std(reference scores); None without scores."""


class FleetSignals(BaseModel):
    """The window's prediction-side view: which machines alert, and whether the fleet moved."""

    machines: int
    alerting: list[str] = Field(default_factory=list)
    """Machine ids alerting in the window."""
    fleet_drift: bool
    """``fleet_share`` or more of all machines, or of one type's, are alerting."""
    faults_suspected: int
    """Alerting machines when the fleet did not move (0 during fleet drift)."""
    fleet_share: float
    by_type: dict[str, TypeSignals] = Field(default_factory=dict)


def fleet_signals(
    machine_ids: Sequence[str | None],
    flags: Sequence[bool],
    scores: Sequence[float],
    machine_types: Mapping[str, str],
    reference_scores: np.ndarray | None,
    *,
    machine_alert_share: float = DEFAULT_MACHINE_ALERT_SHARE,
    fleet_share: float = DEFAULT_FLEET_SHARE,
) -> FleetSignals:
    """Signals of one window (rows in any order; rows without a machine id count by type only)."""
    per_machine: dict[str, list[bool]] = defaultdict(list)
    type_rows: dict[str, list[int]] = defaultdict(list)
    for i, (mid, flag) in enumerate(zip(machine_ids, flags, strict=True)):
        kind = machine_types.get(mid, UNKNOWN_TYPE) if mid else UNKNOWN_TYPE
        type_rows[kind].append(i)
        if mid:
            per_machine[mid].append(bool(flag))
    alerting = sorted(
        m
        for m, f in per_machine.items()
        if sum(f) >= MACHINE_ALERT_MIN_ROWS and sum(f) / len(f) >= machine_alert_share
    )
    alerting_set = set(alerting)
    score_arr = np.asarray(scores, dtype="float64")
    flag_arr = np.asarray(flags, dtype=bool)
    ref_std = max(float(np.std(reference_scores)), STD_FLOOR) if reference_scores is not None else None
    by_type: dict[str, TypeSignals] = {}
    fleet = bool(per_machine) and len(alerting) / len(per_machine) >= fleet_share
    for kind, rows in sorted(type_rows.items()):
        machines = {m for m in per_machine if machine_types.get(m, UNKNOWN_TYPE) == kind}
        n_alert = len(machines & alerting_set)
        share = n_alert / len(machines) if machines else 0.0
        if len(machines) >= 2 and share >= fleet_share:
            fleet = True
        drift_score = None
        finite = score_arr[rows][np.isfinite(score_arr[rows])]
        if reference_scores is not None and ref_std is not None and len(finite):
            from scipy.stats import wasserstein_distance

            drift_score = float(wasserstein_distance(reference_scores, finite) / ref_std)
        by_type[kind] = TypeSignals(
            machines=len(machines),
            alerting_machines=n_alert,
            alerting_share=share,
            flagged_share=float(flag_arr[rows].mean()) if rows else 0.0,
            prediction_drift_score=drift_score,
        )
    return FleetSignals(
        machines=len(per_machine),
        alerting=alerting,
        fleet_drift=fleet,
        faults_suspected=0 if fleet else len(alerting),
        fleet_share=fleet_share,
        by_type=by_type,
    )


def read_machine_types(path: str | None) -> dict[str, str]:
    """``machine_id -> machine_type`` from a CSV or parquet file with those two columns."""
    if path is None:
        return {}
    import pandas as pd

    frame = pd.read_parquet(path) if str(path).endswith((".parquet", ".pq")) else pd.read_csv(path)
    return dict(zip(frame["machine_id"].astype(str), frame["machine_type"].astype(str), strict=True))
