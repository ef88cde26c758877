"""Names of the sidecar's Prometheus metrics that alert rules and dashboards use: one source.

``DRIFT_DETECTED`` is the retrain alert's input: the sustained fleet-drift verdict (0/1), never the
faults of a few machines. The others explain it.
"""

from __future__ import annotations

from typing import Final

DRIFT_DETECTED: Final = "predmaint_drift_detected"
"""Sustained fleet drift (``drift.sequential`` over calibrated checks): 0 or 1."""
DRIFT_CHECK_DETECTED: Final = "predmaint_drift_check_detected"
"""The latest single check's fleet verdict: 0 or 1."""
FAULTS_SUSPECTED: Final = "predmaint_faults_suspected"
"""Machines alerting while the fleet did not move (alerts, not retraining)."""
ALERTING_MACHINES_SHARE: Final = "predmaint_alerting_machines_share"
"""Per ``machine_type``: share of that type's machines alerting in the window."""
PREDICTION_DRIFT_SCORE: Final = "predmaint_prediction_drift_score"
"""Per ``machine_type``: normalised W1 of the window's anomaly scores against the reference's."""
DRIFT_THRESHOLD: Final = "predmaint_drift_threshold"
"""Per ``column``: the calibrated (or fixed) threshold of the latest check."""
DRIFT_FALSE_ALARM_PROBABILITY: Final = "predmaint_drift_false_alarm_probability"
"""Calibrated per-check false-alarm probability of the dataset verdict."""
DRIFT_SUSTAINED_ARL0_STEPS: Final = "predmaint_drift_sustained_arl0_steps"
"""Expected steps between false alarms of the sustained verdict (independent steps)."""
DRIFT_CALIBRATION_SECONDS: Final = "predmaint_drift_calibration_seconds"
MACHINE_TYPE_LABEL: Final = "machine_type"
COLUMN_LABEL: Final = "column"
