"""Alert-level evaluation of an anomaly detector on labelled windows, and the promotion gate.

Definitions (all times UTC, windows hourly):

- **flag**: a window with ``score >= threshold``.
- **alert**: a machine raises an alert at the end of ``k`` consecutive flagged windows (``alert_k``;
  a gap in the windows breaks the run). After an alert the machine stays quiet for ``cooldown_h``
  (one ticket per incident, not one per hour).
- an alert is **true** if the machine fails within ``horizon_h`` after it (any failure of that
  machine, including one after the evaluation range); otherwise it is a **false alarm**.
- a failure inside the evaluation range is **detected** if a true alert precedes it; its **lead
  time** is the failure time minus the earliest such alert. ``recall_24h`` counts failures detected
  at least ``min_lead_h`` (24 h) ahead.
- **precision** = true alerts / alerts, **recall** = detected failures / failures, F1 from both.
- **false alarms per machine-month** = false alarms / (observed machine-hours / 720).

The promotion gate built on these metrics, and its label-free shadow checks: :mod:`aml.gate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from core.contract import ENTITY_KEY, EVENT_TIMESTAMP, FAILURE_TIME, WINDOW

HOURS_PER_MONTH: Final = 720.0
SCORE: Final = "anomaly_score"
ALERT_TIME: Final = "alert_time"
FIRST_ALERT: Final = "first_alert"
LEAD_H: Final = "lead_h"


@dataclass(frozen=True)
class AlertPolicy:
    """How flags become alerts, and how alerts are matched to failures."""

    alert_k: int = 3
    cooldown_h: float = 24.0
    horizon_h: float = 168.0
    min_lead_h: float = 24.0

    def __post_init__(self) -> None:
        if self.alert_k < 1:
            raise ValueError("alert_k must be >= 1")
        if self.horizon_h <= 0 or self.min_lead_h < 0 or self.cooldown_h < 0:
            raise ValueError("horizon_h must be > 0, min_lead_h and cooldown_h >= 0")


class AlertMetrics(BaseModel):
    model_config = ConfigDict(frozen=True)

    windows: int
    machines: int
    machine_months: float
    failures: int
    detected: int
    detected_24h: int
    alerts: int
    true_alerts: int
    false_alarms: int
    precision: float
    recall: float
    recall_24h: float
    f1: float
    mean_lead_h: float | None
    false_alarms_per_machine_month: float


def alerts_from_scores(
    windows: pd.DataFrame, threshold: float | np.ndarray, policy: AlertPolicy
) -> pd.DataFrame:
    """Alert events [machine_id, alert_time] from scored windows [machine_id, event_timestamp,
    anomaly_score]; ``threshold`` is one for all rows or one per row of ``windows`` (each model
    version has its own). Episodes with hysteresis and budgets: :mod:`aml.episodes`."""
    if len(windows) == 0:
        return pd.DataFrame(
            {ENTITY_KEY: pd.Series(dtype=str), ALERT_TIME: pd.Series(dtype="datetime64[ns, UTC]")}
        )
    per_row = np.broadcast_to(np.asarray(threshold, dtype=np.float64), (len(windows),))
    w = (
        windows[[ENTITY_KEY, EVENT_TIMESTAMP, SCORE]]
        .assign(_threshold=per_row)
        .sort_values([ENTITY_KEY, EVENT_TIMESTAMP], kind="stable")
    )
    machine = w[ENTITY_KEY].to_numpy()
    ts = w[EVENT_TIMESTAMP].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    flag = w[SCORE].to_numpy() >= w["_threshold"].to_numpy()
    step = int(WINDOW.total_seconds() * 1e9)
    cooldown = int(policy.cooldown_h * 3600 * 1e9)
    # run length of consecutive flagged windows (same machine, contiguous hours)
    new_run = np.ones(len(w), dtype=bool)
    new_run[1:] = (machine[1:] != machine[:-1]) | (ts[1:] - ts[:-1] > step) | ~flag[:-1]
    run = np.zeros(len(w), dtype=np.int64)
    count = 0
    for i in range(len(w)):
        count = (1 if new_run[i] else count + 1) if flag[i] else 0
        run[i] = count
    # an alert starts when a run reaches k windows; a run that goes on is the same alert
    candidates = np.flatnonzero(run == policy.alert_k)
    out_m: list[str] = []
    out_t: list[int] = []
    last: dict[str, int] = {}
    for i in candidates.tolist():
        m = machine[i]
        if m in last and ts[i] - last[m] < cooldown:
            continue
        last[m] = int(ts[i])
        out_m.append(str(m))
        out_t.append(int(ts[i]))
    return pd.DataFrame(
        {ENTITY_KEY: out_m, ALERT_TIME: pd.to_datetime(np.asarray(out_t, dtype=np.int64), utc=True)}
    )


def true_alerts(alerts: pd.DataFrame, failures: pd.DataFrame, policy: AlertPolicy) -> np.ndarray:
    """Per alert [machine_id, alert_time]: does that machine fail within ``horizon_h`` after it?"""
    horizon = pd.Timedelta(hours=policy.horizon_h)
    out = np.zeros(len(alerts), dtype=bool)
    for j, (m, a) in enumerate(zip(alerts[ENTITY_KEY], alerts[ALERT_TIME], strict=True)):
        ft = failures.loc[failures[ENTITY_KEY] == m, FAILURE_TIME]
        out[j] = bool(((ft > a) & (ft - a <= horizon)).any())
    return out


def failure_outcomes(alerts: pd.DataFrame, failures: pd.DataFrame, policy: AlertPolicy) -> pd.DataFrame:
    """``failures`` (any columns beside machine_id, failure_time) with ``first_alert``, the earliest
    alert of that machine within ``horizon_h`` before the failure (NaT: missed), and ``lead_h``."""
    horizon = pd.Timedelta(hours=policy.horizon_h)
    first: list[object] = []  # Timestamp or NaT
    for m, ft in zip(failures[ENTITY_KEY], failures[FAILURE_TIME], strict=True):
        a = alerts.loc[alerts[ENTITY_KEY] == m, ALERT_TIME]
        a = a[(a < ft) & (ft - a <= horizon)]
        first.append(a.min() if len(a) else pd.NaT)
    out = failures.reset_index(drop=True).assign(
        **{FIRST_ALERT: pd.to_datetime(pd.Series(first, dtype="datetime64[ns, UTC]"), utc=True)}
    )
    return out.assign(**{LEAD_H: (out[FAILURE_TIME] - out[FIRST_ALERT]).dt.total_seconds() / 3600})


def alert_metrics(
    windows: pd.DataFrame,
    threshold: float | np.ndarray,
    failures: pd.DataFrame,
    policy: AlertPolicy,
    *,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
) -> AlertMetrics:
    """Score alerts on ``windows`` (see the module docstring). ``failures``: [machine_id,
    failure_time]. Failures in ``(start, end]`` count for recall (default: the windows' span plus
    one window, as a machine's last window ends just before it fails)."""
    alerts = alerts_from_scores(windows, threshold, policy)
    times = windows[EVENT_TIMESTAMP]
    start = start if start is not None else (times.min() - WINDOW if len(windows) else None)
    end = end if end is not None else (times.max() + WINDOW if len(windows) else None)
    machines = set(windows[ENTITY_KEY].unique())
    fails = failures.loc[failures[ENTITY_KEY].isin(machines), [ENTITY_KEY, FAILURE_TIME]]
    true_alert = true_alerts(alerts, fails, policy)
    in_range = fails
    if start is not None and end is not None:
        in_range = fails.loc[(fails[FAILURE_TIME] > start) & (fails[FAILURE_TIME] <= end)]
    outcomes = failure_outcomes(alerts, in_range, policy)
    leads = outcomes[LEAD_H].dropna().tolist()
    detected_24h = int(sum(lead >= policy.min_lead_h for lead in leads))
    n_alerts = len(alerts)
    n_true = int(true_alert.sum())
    n_fail = len(in_range)
    precision = n_true / n_alerts if n_alerts else 1.0
    recall = len(leads) / n_fail if n_fail else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    months = len(windows) * WINDOW.total_seconds() / 3600 / HOURS_PER_MONTH
    false_alarms = n_alerts - n_true
    return AlertMetrics(
        windows=len(windows),
        machines=len(machines),
        machine_months=round(months, 3),
        failures=n_fail,
        detected=len(leads),
        detected_24h=detected_24h,
        alerts=n_alerts,
        true_alerts=n_true,
        false_alarms=false_alarms,
        precision=precision,
        recall=recall,
        recall_24h=detected_24h / n_fail if n_fail else 1.0,
        f1=f1,
        mean_lead_h=float(np.mean(leads)) if leads else None,
        false_alarms_per_machine_month=false_alarms / months if months else 0.0,
    )
