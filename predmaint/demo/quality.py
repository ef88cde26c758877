"""Alert precision, recall and lead time of the served models, from the live loop's scores.

The definitions are the training pipeline's own (``aml.evaluation``: an alert is ``alert_k``
consecutive flagged hours of one machine, then a quiet ``cooldown_h``; it is true when that machine
fails within ``horizon_h``), applied to what the facade actually answered. Each model version has its
own threshold, so a flag is ``anomaly_score >= threshold`` of the version that scored the row.
Rows scored while the fleet drifts (``aml.episodes.fleet_drift_rows``: more than a fifth of the fleet
flagged in the same hour) are drift-suspect and raise no alert.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

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
    flags: int
    """Flagged machine-hours."""
    alerts: int
    true_alerts: int
    precision: float | None
    alerts_outside_drift: int
    true_alerts_outside_drift: int
    precision_outside_drift: float | None
    """Precision without the alerts raised between drift onset and the swap to the retrained model:
    how the detector does while its reference matches the fleet."""
    alerts_during_drift: int
    true_alerts_during_drift: int
    precision_during_drift: float | None
    """Precision of the alerts raised between drift onset and the swap (None: no alert then)."""
    drift_suspect_rows: int
    """Scored rows marked drift-suspect (they raise no alert)."""
    failures: int
    detected: int
    recall: float | None
    mean_lead_time_h: float | None
    outcomes: list[FailureOutcome]

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
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

    from aml.episodes import fleet_drift_rows
    from aml.evaluation import SCORE, AlertPolicy, alerts_from_scores
    from core.contract import ENTITY_KEY, EVENT_TIMESTAMP

    policy = AlertPolicy()
    horizon = timedelta(hours=policy.horizon_h)
    windows = pd.DataFrame(
        {
            ENTITY_KEY: [r.machine_id for r in scores],
            EVENT_TIMESTAMP: pd.to_datetime([r.sim_time for r in scores], utc=True),
            SCORE: [r.anomaly_score - r.threshold for r in scores],  # >= 0 is a flag of that version
        }
    )
    suspect = fleet_drift_rows(windows, 0.0)
    windows[SCORE] = np.where(suspect, -np.inf, windows[SCORE].to_numpy())
    alerts = [
        (str(m), t.to_pydatetime())
        for m, t in zip(
            *(alerts_from_scores(windows, 0.0, policy)[c] for c in (ENTITY_KEY, "alert_time")), strict=True
        )
    ]
    by_machine: dict[str, list[datetime]] = {}
    for f in failures:
        by_machine.setdefault(f.machine_id, []).append(f.failure_time)

    def is_true(machine: str, at: datetime) -> bool:
        return any(at < ft <= at + horizon for ft in by_machine.get(machine, ()))

    def in_drift(at: datetime) -> bool:
        return drift_episode is not None and drift_episode[0] <= at < drift_episode[1]

    true_alerts = [a for a in alerts if is_true(*a)]
    outside = [a for a in alerts if not in_drift(a[1])]
    true_outside = [a for a in outside if is_true(*a)]
    during = [a for a in alerts if in_drift(a[1])]
    true_during = [a for a in during if is_true(*a)]

    outcomes = []
    for f in failures:
        if not live_start < f.failure_time <= live_end:
            continue
        before = sorted(t for m, t in alerts if m == f.machine_id and t < f.failure_time <= t + horizon)
        first = before[0] if before else None
        lead = (f.failure_time - first).total_seconds() / 3600 if first else None
        outcomes.append(FailureOutcome(f.machine_id, f.failure_time, f.mode, first, lead))
    detected = [o for o in outcomes if o.first_alert is not None]
    leads = [o.lead_time_h for o in detected if o.lead_time_h is not None]
    return AlertQuality(
        alert_k=policy.alert_k,
        horizon_h=policy.horizon_h,
        flags=sum(1 for r in scores if r.is_anomaly),
        alerts=len(alerts),
        true_alerts=len(true_alerts),
        precision=len(true_alerts) / len(alerts) if alerts else None,
        alerts_outside_drift=len(outside),
        true_alerts_outside_drift=len(true_outside),
        precision_outside_drift=len(true_outside) / len(outside) if outside else None,
        alerts_during_drift=len(during),
        true_alerts_during_drift=len(true_during),
        precision_during_drift=len(true_during) / len(during) if during else None,
        drift_suspect_rows=int(suspect.sum()),
        failures=len(outcomes),
        detected=len(detected),
        recall=len(detected) / len(outcomes) if outcomes else None,
        mean_lead_time_h=sum(leads) / len(leads) if leads else None,
        outcomes=outcomes,
    )
