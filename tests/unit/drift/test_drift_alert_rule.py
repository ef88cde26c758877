"""The local alert evaluator: the chart's rule file, Prometheus' pending/firing states, the trigger core."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drift.alert_rule import DRIFT_ALERT, DRIFT_METRIC, load_alert_rule, load_rule_evaluator, parse_duration
from functions.retrain_trigger import RetrainTrigger, RunInfo

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


class FakeAzureBackend:
    """In-memory run list (fake_azure: the Azure side of the trigger)."""

    def __init__(self) -> None:
        self.runs: list[RunInfo] = []

    def recent_runs(self, since: datetime) -> list[RunInfo]:
        return [r for r in self.runs if r.started_at >= since or r.active]

    def start(self, reason: str, tags: dict[str, str]) -> str:
        self.runs.append(RunInfo(run_id=f"r{len(self.runs)}", status="completed", started_at=T0, tags=tags))
        return self.runs[-1].run_id


@pytest.mark.parametrize(("text", "seconds"), [("15m", 900), ("1h30m", 5400), ("90s", 90), ("0s", 0)])
def test_prometheus_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_bad_duration_is_refused() -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration("15 minutes")


def test_the_chart_rule_file_defines_the_drift_alert() -> None:
    rule = load_alert_rule()
    assert rule.name == DRIFT_ALERT and rule.for_s == 900
    assert "predmaint_drift_detected" in rule.expr and rule.labels["severity"]


def test_alert_fires_only_after_the_scaled_for_period_and_starts_one_run_fake_azure() -> None:
    backend = FakeAzureBackend()
    trigger = RetrainTrigger(backend, cooldown=timedelta(hours=6), clock=lambda: T0)
    evaluator = load_rule_evaluator(time_scale=60.0, notify=trigger.handle)  # 15 min -> 15 s
    assert evaluator.hold_s == 15.0
    states = [evaluator.observe(True, T0 + timedelta(seconds=s)) for s in (0, 5, 10)]
    assert states == ["pending"] * 3 and backend.runs == []
    assert evaluator.observe(None, T0 + timedelta(seconds=12)) == "inactive"  # no verdict breaks the streak
    for s in (20, 30):
        evaluator.observe(True, T0 + timedelta(seconds=s))
    assert evaluator.observe(True, T0 + timedelta(seconds=35)) == "firing"
    assert evaluator.last_payload is not None
    assert evaluator.last_payload["data"]["essentials"]["monitorCondition"] == "Fired"
    assert len(backend.runs) == 1
    evaluator.observe(True, T0 + timedelta(seconds=40))  # still firing: not sent again
    assert len(evaluator.notifications) == 1
    assert evaluator.observe(False, T0 + timedelta(seconds=50)) == "inactive"
    decisions = evaluator.notifications
    assert [d.action for d in decisions] == ["started", "skipped"] and decisions[1].reason == "alert resolved"


def test_for_override_in_the_callers_clock(tmp_path: Path) -> None:
    evaluator = load_rule_evaluator(for_s=2.0)
    assert evaluator.observe(True, T0) == "pending"
    assert evaluator.observe(True, T0 + timedelta(seconds=2)) == "firing"


PROMTOOL_TESTS = Path(__file__).resolve().parents[2] / "assets" / "drift" / "drift-alert-rules.test.yaml"


def _expand(values: str) -> list[float]:
    """promtool's series notation, the subset the test file uses: ``v`` and ``vxN`` (N+1 samples)."""
    out: list[float] = []
    for token in values.split():
        value, _, repeat = token.partition("x")
        out += [float(value)] * (int(repeat) + 1 if repeat else 1)
    return out


def test_embedded_evaluator_agrees_with_promtool_on_the_rule_unit_tests() -> None:
    """The scenarios of drift-alert-rules.test.yaml (which real Prometheus passes, see
    tests/assets/drift/test_drift_alert_promtool.py) replayed minute by minute through the local
    evaluator: the retrain alert fires, or not, at the same evaluation times."""
    import yaml

    rule = load_alert_rule()
    scenarios = yaml.safe_load(PROMTOOL_TESTS.read_text())["tests"]
    checked = 0
    for scenario in scenarios:
        series = [
            _expand(s["values"])
            for s in scenario["input_series"]
            if s["series"].startswith(DRIFT_METRIC + "{") or s["series"] == DRIFT_METRIC
        ]
        expected = {
            parse_duration(t["eval_time"]): bool(t["exp_alerts"])
            for t in scenario["alert_rule_test"]
            if t["alertname"] == rule.name
        }
        evaluator = load_rule_evaluator()
        for minute in range(int(max(expected) // 60) + 1):
            # max over the series, as the rule's expr; a series that ended is absent (no verdict)
            present = [s[minute] for s in series if minute < len(s)]
            state = evaluator.observe(bool(present) and max(present) >= 1, T0 + timedelta(minutes=minute))
            if minute * 60 in expected:
                assert (state == "firing") == expected[minute * 60], (scenario["input_series"], minute)
                checked += 1
    assert checked >= 4
