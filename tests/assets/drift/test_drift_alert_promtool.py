"""The alert rule file under the real ``promtool``: it parses as Prometheus rules, its unit tests
(``drift-alert-rules.test.yaml``) pass, and those unit tests catch the defects they are there for."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from drift.alert_rule import RULES_PATH
from tests.prometheus_tools import require_binary

TESTS_FILE = Path(__file__).with_name("drift-alert-rules.test.yaml")


@pytest.fixture(scope="module")
def promtool() -> str:
    return require_binary("promtool")


def _run(promtool: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )


def _mutated_copy(tmp_path: Path, alert: str, **changes: object) -> Path:
    """The rule file and its unit tests in ``tmp_path`` (same relative layout), ``alert`` changed."""
    document = yaml.safe_load(RULES_PATH.read_text())
    for group in document["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == alert:
                rule.update(changes)
    rules = tmp_path / "charts" / "pred-maint" / "files" / RULES_PATH.name
    rules.parent.mkdir(parents=True)
    rules.write_text(yaml.safe_dump(document, sort_keys=False))
    tests = tmp_path / "tests" / "assets" / "drift" / TESTS_FILE.name
    tests.parent.mkdir(parents=True)
    shutil.copy(TESTS_FILE, tests)
    return tests


def test_rule_file_passes_promtool_check_rules(promtool: str) -> None:
    result = _run(promtool, "check", "rules", RULES_PATH)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 3 rules found" in result.stdout


def test_promtool_check_rules_rejects_a_broken_expression(promtool: str, tmp_path: Path) -> None:
    tests = _mutated_copy(tmp_path, "PredMaintDriftDetected", expr="max(predmaint_drift_detected >= 1")
    result = _run(promtool, "check", "rules", tests.parents[3] / "charts/pred-maint/files" / RULES_PATH.name)
    assert result.returncode != 0 and "parse error" in result.stdout + result.stderr


def test_rule_unit_tests_pass(promtool: str) -> None:
    result = _run(promtool, "test", "rules", TESTS_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("alert", "changes", "caught"),
    [
        # no hold period: fires on the first drifted minute and on a flapping signal
        ("PredMaintDriftDetected", {"for": "1m"}, "alertname: PredMaintDriftDetected, time: 15m"),
        # alerting on the single-check verdict instead of the sustained one
        ("PredMaintDriftDetected", {"expr": "max(predmaint_drift_check_detected) >= 1"}, "time: 45m"),
        # faults routed to retraining
        (
            "PredMaintFaultsSuspected",
            {"labels": {"severity": "info", "action": "retrain"}},
            "PredMaintFaultsSuspected, time: 16m",
        ),
    ],
)
def test_rule_unit_tests_catch_a_broken_rule(
    promtool: str, tmp_path: Path, alert: str, changes: dict[str, object], caught: str
) -> None:
    result = _run(promtool, "test", "rules", _mutated_copy(tmp_path, alert, **changes))
    assert result.returncode != 0, f"promtool tests passed a broken {alert}: {changes}"
    assert caught in result.stdout + result.stderr
