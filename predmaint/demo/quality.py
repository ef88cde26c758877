"""Alert precision, recall and lead time of the served models, from the live loop's scores.

Every rule is the training pipeline's own, from :mod:`aml.evaluation` (alerts, true alerts, detected
failures, recall with ``min_lead_h`` of lead, precision 1.0 when nothing alerted); this module only
turns the run's record into its frames. Each model version has its own threshold, so a flag is
``anomaly_score >= threshold`` of the version that scored the row (one threshold per row).
Rows scored while the fleet drifts (``aml.episodes.fleet_drift_rows``: more than a fifth of the fleet
flagged in the same hour) are drift-suspect and raise no alert.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from aml.evaluation import AlertMetrics
from predmaint.demo.record import FailureEvent, ScoreRow


@dataclass(frozen=True)
class FailureOutcome:
    machine_id: str
    failure_time: datetime
    mode: str
    first_alert: datetime | None
    lead_time_h: float | None


@dataclass(frozen=True)
class AlertQuality:
    alert_k: int
    horizon_h: float
    min_lead_h: float
    flags: int
    """Flagged machine-hours."""
    metrics: AlertMetrics
    """``aml.evaluation.alert_metrics`` of the live phase: alerts, precision, recall, recall_24h, F1."""
    alerts_outside_drift: int
    true_alerts_outside_drift: int
    precision_outside_drift: float
    """Precision without the alerts raised between drift onset and the swap to the retrained model:
    how the detector does while its reference matches the fleet."""
    alerts_during_drift: int
    true_alerts_during_drift: int
    precision_during_drift: float
    """Precision of the alerts raised between drift onset and the swap (1.0 when none was raised)."""
    drift_suspect_rows: int
    """Scored rows marked drift-suspect (they raise no alert)."""
    outcomes: list[FailureOutcome]

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["metrics"] = self.metrics.model_dump(mode="json")
        for o in out["outcomes"]:
            o["failure_time"] = o["failure_time"].isoformat()
            o["first_alert"] = o["first_alert"].isoformat() if o["first_alert"] else None
        return out


def alert_quality(
    scores: list[ScoreRow],
    failures: list[FailureEvent],
    *,
    live_start: datetime,
    live_end: datetime,
    drift_episode: tuple[datetime, datetime] | None = None,
) -> AlertQuality:
    import numpy as np
    import pandas as pd

    from aml.episodes import fleet_drift_rows, in_intervals
    from aml.evaluation import (
        ALERT_TIME,
        FIRST_ALERT,
        LEAD_H,
        SCORE,
        AlertPolicy,
        alert_metrics,
        alerts_from_scores,
        failure_outcomes,
        true_alerts,
    )
    from core.contract import ENTITY_KEY, EVENT_TIMESTAMP, FAILURE_MODE, FAILURE_TIME

    policy = AlertPolicy()
    windows = pd.DataFrame(
        {
            ENTITY_KEY: [r.machine_id for r in scores],
            EVENT_TIMESTAMP: pd.to_datetime([r.sim_time for r in scores], utc=True),
            SCORE: [r.anomaly_score for r in scores],
        }
    )
    thresholds = np.asarray([r.threshold for r in scores], dtype=np.float64)
    suspect = fleet_drift_rows(windows, thresholds)
    windows[SCORE] = np.where(suspect, -np.inf, windows[SCORE].to_numpy())  # drift-suspect: no alert
    labels = pd.DataFrame(
        {
            ENTITY_KEY: [f.machine_id for f in failures],
            FAILURE_TIME: pd.to_datetime([f.failure_time for f in failures], utc=True),
            FAILURE_MODE: [f.mode for f in failures],
        }
    )
    start, end = pd.Timestamp(live_start), pd.Timestamp(live_end)
    metrics = alert_metrics(windows, thresholds, labels, policy, start=start, end=end)
    alerts = alerts_from_scores(windows, thresholds, policy)
    drift = [drift_episode] if drift_episode is not None else []
    outside = alerts.loc[[not in_intervals(t, drift) for t in alerts[ALERT_TIME]]]
    true_outside = int(true_alerts(outside, labels, policy).sum())
    during = alerts.loc[[in_intervals(t, drift) for t in alerts[ALERT_TIME]]]
    true_during = int(true_alerts(during, labels, policy).sum())
    scored = labels[ENTITY_KEY].isin(set(windows[ENTITY_KEY]))
    in_range = labels.loc[scored & (labels[FAILURE_TIME] > start) & (labels[FAILURE_TIME] <= end)]
    outcomes = [
        FailureOutcome(
            machine_id=str(row[ENTITY_KEY]),
            failure_time=row[FAILURE_TIME].to_pydatetime(),
            mode=str(row[FAILURE_MODE]),
            first_alert=None if pd.isna(row[FIRST_ALERT]) else row[FIRST_ALERT].to_pydatetime(),
            lead_time_h=None if pd.isna(row[LEAD_H]) else float(row[LEAD_H]),
        )
        for _, row in failure_outcomes(alerts, in_range, policy).iterrows()
    ]
    return AlertQuality(
        alert_k=policy.alert_k,
        horizon_h=policy.horizon_h,
        min_lead_h=policy.min_lead_h,
        flags=sum(1 for r in scores if r.is_anomaly),
        metrics=metrics,
        alerts_outside_drift=len(outside),
        true_alerts_outside_drift=true_outside,
        precision_outside_drift=true_outside / len(outside) if len(outside) else 1.0,
        alerts_during_drift=len(during),
        true_alerts_during_drift=true_during,
        precision_during_drift=true_during / len(during) if len(during) else 1.0,
        drift_suspect_rows=int(suspect.sum()),
        outcomes=outcomes,
    )
