"""Deployment assets of the drift slice: AzureML schedule, alert rule file, images and pins."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]


def _locked_versions() -> dict[str, str]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return {p["name"]: p["version"] for p in lock["package"] if "version" in p}


def test_schedule_loads_with_azure_ai_ml_and_runs_the_training_pipeline() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # azure-ai-ml marks some schema classes experimental
        from azure.ai.ml.entities import JobSchedule, PipelineJob, RecurrenceTrigger
        from azure.ai.ml.entities._load_functions import load_schedule

        schedule = load_schedule(ROOT / "aml" / "schedules" / "retrain.yml")
    assert isinstance(schedule, JobSchedule)
    assert isinstance(schedule.trigger, RecurrenceTrigger)
    assert schedule.trigger.frequency == "week" and schedule.trigger.interval == 1
    assert isinstance(schedule.create_job, PipelineJob)
    pipeline = yaml.safe_load((ROOT / "aml" / "pipelines" / "train.yml").read_text())
    assert schedule.create_job.experiment_name == pipeline["experiment_name"]
    assert (schedule.create_job.tags or {})["trigger"] == "schedule"


def test_alert_rule_file_is_a_prometheus_rule_group_with_the_drift_alert() -> None:
    document = yaml.safe_load(
        (ROOT / "charts" / "pred-maint" / "files" / "drift-alert-rules.yaml").read_text()
    )
    (group,) = document["groups"]
    rules = {rule["alert"]: rule for rule in group["rules"]}
    assert set(rules) == {"PredMaintDriftDetected", "PredMaintFaultsSuspected", "PredMaintDriftSidecarDown"}
    assert "predmaint_drift_detected" in rules["PredMaintDriftDetected"]["expr"]
    # only the sustained fleet-drift alert is routed to retraining (Terraform's action group, the trigger)
    assert [name for name, rule in rules.items() if rule["labels"]["action"] == "retrain"] == [
        "PredMaintDriftDetected"
    ]
    for rule in rules.values():
        assert re.fullmatch(r"\d+[smh]", rule["for"])
        assert {"summary", "description"} <= set(rule["annotations"])


@pytest.mark.parametrize("requirements", ["drift/requirements.txt", "functions/requirements.txt"])
def test_image_requirements_are_pinned_to_the_lock_file(requirements: str) -> None:
    locked = _locked_versions()
    for line in (ROOT / requirements).read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep, f"{requirements}: {line} is not pinned"
        assert locked.get(name.lower()) == version, (
            f"{requirements}: {name}=={version}, uv.lock has {locked.get(name)}"
        )


def test_drift_dockerfile_is_slim_pinned_and_non_root() -> None:
    text = (ROOT / "drift" / "Dockerfile").read_text()
    (base,) = re.findall(r"^FROM\s+(\S+)", text, flags=re.MULTILINE)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base)
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.MULTILINE)
    assert users and not users[-1].startswith(("root", "0"))
    for copied in re.findall(r"^COPY\s+(.+)\s+\S+$", text, flags=re.MULTILINE):
        for source in copied.split():
            assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"


def test_function_host_json_limits_concurrency_for_the_trigger() -> None:
    host = json.loads((ROOT / "functions" / "host.json").read_text())
    assert host["version"] == "2.0"
    assert host["extensions"]["http"]["maxConcurrentRequests"] == 1


def test_azure_calls_the_retrain_action_group_only_for_rules_labelled_retrain() -> None:
    """infra/main.alerts.tf turns every rule of the file into an Azure alert; the faults and
    sidecar-down alerts must not reach the retrain Function (the trigger would ignore them by name,
    but the action group should not send them)."""
    import hcl2

    (block,) = hcl2.loads((ROOT / "infra" / "main.alerts.tf").read_text())["resource"]
    (group,) = block['"azurerm_monitor_alert_prometheus_rule_group"'].values()
    (rule,) = group["dynamic"][0]['"rule"']["content"]
    assert "action" not in rule, "an unconditional action block sends every alert to the retrain Function"
    (action,) = rule["dynamic"][0]['"action"']["content"]
    condition = rule["dynamic"][0]['"action"']["for_each"]
    assert 'rule.value.labels.action, "") == "retrain"' in condition
    assert "azurerm_monitor_action_group.retrain.id" in action["action_group_id"]
