"""``predmaint demo --prometheus``'s generated configs: the shared rule file on the demo's clock, and
Alertmanager routing only the retrain alert to the trigger (checked by the real tools in
tests/integration/drift/test_alerting_real_prometheus.py)."""

from __future__ import annotations

import pytest
import yaml

from drift.alert_rule import RULES_PATH, parse_duration
from predmaint.demo.prometheus import RETRAIN_RECEIVER, alertmanager_config, format_duration, scaled_rules


@pytest.mark.parametrize(
    ("seconds", "text"), [(900 / 3600, "250ms"), (2.0, "2s"), (1e-6, "1ms"), (1.5, "1500ms")]
)
def test_durations_are_whole_milliseconds(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(max(seconds, 0.001))


def test_scaled_rules_divide_every_for_and_keep_everything_else() -> None:
    original = yaml.safe_load(RULES_PATH.read_text())
    scaled = scaled_rules(450.0)
    for group, source in zip(scaled["groups"], original["groups"], strict=True):
        assert group["interval"] == "1s"
        for rule, before in zip(group["rules"], source["rules"], strict=True):
            assert parse_duration(rule["for"]) == pytest.approx(
                parse_duration(before["for"]) / 450.0, abs=5e-4
            )
            assert {k: v for k, v in rule.items() if k != "for"} == {
                k: v for k, v in before.items() if k != "for"
            }
    with pytest.raises(ValueError):
        scaled_rules(0)


def test_only_alerts_labelled_retrain_reach_the_trigger_webhook() -> None:
    config = alertmanager_config("http://127.0.0.1:1/api/retrain")
    (route,) = config["route"]["routes"]
    assert route == {"receiver": RETRAIN_RECEIVER, "matchers": ['action="retrain"']}
    receivers = {r["name"]: r for r in config["receivers"]}
    assert "webhook_configs" not in receivers[config["route"]["receiver"]], "the default route calls nobody"
    (hook,) = receivers[RETRAIN_RECEIVER]["webhook_configs"]
    assert hook["url"].endswith("/api/retrain") and hook["send_resolved"] is True
