"""Alert metrics and the promotion gate, on hand-made windows with known answers."""

from __future__ import annotations

import pandas as pd
import pytest

from aml.evaluation import SCORE, AlertPolicy, alert_metrics, alerts_from_scores
from aml.gate import GatePolicy, decide

T0 = pd.Timestamp("2026-01-01T00:00Z")


def windows(machine: str, scores: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "machine_id": machine,
            "event_timestamp": [T0 + pd.Timedelta(hours=h + 1) for h in range(len(scores))],
            SCORE: scores,
        }
    )


def test_k_consecutive_flags_make_one_alert_per_run() -> None:
    w = windows("A", [0.9, 0.1, 0.9, 0.9, 0.9, 0.9, 0.9, 0.1])
    alerts = alerts_from_scores(w, 0.5, AlertPolicy(alert_k=3, cooldown_h=0))
    assert alerts["alert_time"].tolist() == [T0 + pd.Timedelta(hours=5)]


def test_cooldown_suppresses_a_second_alert() -> None:
    w = windows("A", [0.9, 0.9, 0.1, 0.9, 0.9, 0.1] + [0.1] * 30 + [0.9, 0.9])
    assert len(alerts_from_scores(w, 0.5, AlertPolicy(alert_k=2, cooldown_h=24))) == 2
    assert len(alerts_from_scores(w, 0.5, AlertPolicy(alert_k=2, cooldown_h=0))) == 3


def test_metrics_count_lead_time_and_false_alarms() -> None:
    # machine A fails at hour 60 after alerting at hour 10 (50 h lead); machine B alerts, never fails
    a = windows("A", [0.1] * 8 + [0.9] * 3 + [0.1] * 49)
    b = windows("B", [0.1] * 20 + [0.9] * 3 + [0.1] * 37)
    failures = pd.DataFrame({"machine_id": ["A"], "failure_time": [T0 + pd.Timedelta(hours=61)]})
    m = alert_metrics(pd.concat([a, b]), 0.5, failures, AlertPolicy(alert_k=3))
    assert (m.failures, m.detected, m.detected_24h, m.alerts, m.false_alarms) == (1, 1, 1, 2, 1)
    assert m.precision == 0.5 and m.recall_24h == 1.0
    assert m.mean_lead_h == pytest.approx(50.0)
    assert m.false_alarms_per_machine_month == pytest.approx(1 / (120 / 720))


def test_short_lead_counts_for_recall_but_not_recall_24h() -> None:
    a = windows("A", [0.1] * 50 + [0.9] * 3 + [0.1] * 2)
    failures = pd.DataFrame({"machine_id": ["A"], "failure_time": [T0 + pd.Timedelta(hours=56)]})
    m = alert_metrics(a, 0.5, failures, AlertPolicy(alert_k=3))
    assert m.recall == 1.0 and m.recall_24h == 0.0


def test_gate_keeps_champion_when_candidate_is_worse() -> None:
    failures = pd.DataFrame({"machine_id": ["A"], "failure_time": [T0 + pd.Timedelta(hours=61)]})
    a = windows("A", [0.1] * 8 + [0.9] * 3 + [0.1] * 49)
    quiet_b = windows("B", [0.1] * 60)
    noisy_b = windows("B", [0.9, 0.9, 0.9, 0.1] * 15)
    good = alert_metrics(pd.concat([a, quiet_b]), 0.5, failures, AlertPolicy())
    noisy = alert_metrics(pd.concat([a, noisy_b]), 0.5, failures, AlertPolicy(cooldown_h=0))
    assert decide(good, None, GatePolicy()).promote
    d = decide(noisy, good, GatePolicy(), champion_version="1")
    assert not d.promote
    assert any(r.startswith("FAIL: F1") for r in d.reasons)
    assert any("false alarms per machine-month" in r and r.startswith("FAIL") for r in d.reasons)
    assert decide(good, good, GatePolicy(), champion_version="1").promote
