"""The demo's alert quality follows the training gate's rules (``aml.evaluation``): per-row thresholds
of the version that answered, the lead a detection needs for recall@24h, and the drift exclusion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from predmaint.demo.quality import alert_quality
from predmaint.demo.record import FailureEvent, ScoreRow

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _scores() -> list[ScoreRow]:
    rows = []
    for h in range(40):
        at = T0 + timedelta(hours=h)
        hot = 5 <= h < 10
        rows.append(ScoreRow(at, "m-1", 0.8 if hot else 0.4, hot, 0.6, "1"))
        # m-2 is scored by version 2 from hour 30 on: its lower threshold flags the same score
        version, threshold = ("2", 0.3) if h >= 30 else ("1", 0.6)
        score = 0.4
        rows.append(ScoreRow(at, "m-2", score, score >= threshold, threshold, version))
    return rows


def test_live_quality_uses_each_rows_threshold_and_the_gates_lead_rule() -> None:
    failures = [FailureEvent("m-1", T0 + timedelta(hours=12), "bearing_wear", None)]
    q = alert_quality(_scores(), failures, live_start=T0, live_end=T0 + timedelta(hours=40))
    m = q.metrics
    assert (m.alerts, m.true_alerts, m.false_alarms) == (2, 1, 1)  # m-1 before it fails; m-2 under v2
    assert m.precision == pytest.approx(0.5)
    assert (m.detected, m.recall) == (1, 1.0)
    assert (m.detected_24h, m.recall_24h) == (0, 0.0)  # alerted 5 h ahead: less than min_lead_h
    (outcome,) = q.outcomes
    assert outcome.first_alert == T0 + timedelta(hours=7) and outcome.lead_time_h == pytest.approx(5.0)
    assert q.to_json()["metrics"]["recall_24h"] == 0.0


def test_alerts_during_the_drift_episode_are_left_out_of_precision_outside_drift() -> None:
    failures = [FailureEvent("m-1", T0 + timedelta(hours=12), "bearing_wear", None)]
    episode = (T0 + timedelta(hours=30), T0 + timedelta(hours=40))
    q = alert_quality(
        _scores(), failures, live_start=T0, live_end=T0 + timedelta(hours=40), drift_episode=episode
    )
    assert (q.alerts_outside_drift, q.true_alerts_outside_drift, q.precision_outside_drift) == (1, 1, 1.0)


def test_no_alert_and_no_failure_is_perfect_as_in_the_gate() -> None:
    quiet = [r for r in _scores() if r.machine_id == "m-1" and not r.is_anomaly]
    q = alert_quality(quiet, [], live_start=T0, live_end=T0 + timedelta(hours=40))
    assert (q.metrics.alerts, q.metrics.precision, q.metrics.recall, q.outcomes) == (0, 1.0, 1.0, [])
