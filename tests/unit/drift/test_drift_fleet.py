"""Fleet drift versus faults: a few alerting machines are faults (not retraining), many are the fleet."""

from __future__ import annotations

import numpy as np
import pandas as pd

from drift.fleet import fleet_signals
from drift.monitor import select_rows

TYPES = {f"M{i:03d}": ("pump", "fan", "compressor")[i % 3] for i in range(30)}
HOURS = 24


def _window(alerting: set[str], rng: np.random.Generator) -> tuple[list[str], list[bool], list[float]]:
    ids, flags, scores = [], [], []
    for machine in TYPES:
        for _ in range(HOURS):
            bad = machine in alerting and rng.random() < 0.6
            ids.append(machine)
            flags.append(bad or rng.random() < 0.005)  # the model's healthy flag rate
            scores.append(float(rng.normal(0.7 if bad else 0.4, 0.05)))
    return ids, flags, scores


def test_two_failing_machines_are_faults_not_fleet_drift() -> None:
    rng = np.random.default_rng(0)
    ids, flags, scores = _window({"M001", "M004"}, rng)
    reference = rng.normal(0.4, 0.05, 2_000)
    signals = fleet_signals(ids, flags, scores, TYPES, reference)
    assert signals.alerting == ["M001", "M004"] and signals.faults_suspected == 2
    assert signals.fleet_drift is False
    fan = signals.by_type["fan"]  # M001 and M004 are fans
    assert fan.alerting_machines == 2 and fan.alerting_share == 0.2
    assert fan.prediction_drift_score is not None
    assert fan.prediction_drift_score > signals.by_type["pump"].prediction_drift_score  # type: ignore[operator]


def test_most_of_one_type_alerting_is_fleet_drift() -> None:
    rng = np.random.default_rng(1)
    compressors = {m for m, t in TYPES.items() if t == "compressor"}
    signals = fleet_signals(*_window(compressors, rng), TYPES, None)
    assert signals.fleet_drift is True and signals.faults_suspected == 0
    assert signals.by_type["compressor"].alerting_share == 1.0
    assert signals.by_type["pump"].alerting_share == 0.0


def test_a_faulty_machine_s_rows_are_left_out_of_the_input_check() -> None:
    rng = np.random.default_rng(2)
    ids, flags, scores = _window({"M001"}, rng)
    frame = pd.DataFrame({"x": rng.normal(size=len(ids))})
    signals = fleet_signals(ids, flags, scores, TYPES, None)
    kept, info = select_rows(
        frame,
        [float(i) for i in range(len(ids))],
        flags,
        exclude_anomalies=True,
        max_anomaly_share=0.5,
        machine_ids=list(ids),
        leave_out=frozenset(signals.alerting),
    )
    assert len(kept) == len(ids) - HOURS - sum(f for m, f in zip(ids, flags, strict=True) if m != "M001")
    assert info.anomalies_excluded == len(ids) - len(kept)
