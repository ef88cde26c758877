"""infra/dashboards/: the committed Grafana JSON is what the code generates, every metric it queries
is one that the facade or the drift sidecar exports (their real apps' /metrics), and every query is
valid PromQL by the real promtool."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from core.layout import DataLayout
from infra.dashboards import pred_maint
from tests.prometheus_tools import require_binary

METRIC_RE = re.compile(r"\b(predmaint_[a-z0-9_]+)\b")
SAMPLE_SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}


def _exported(text: str) -> set[str]:
    """Sample names a scraper can query, from the exposition's ``# TYPE`` lines."""
    names = set()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[:2] == ["#", "TYPE"]:
            name, kind = parts[2], parts[3]
            names.add(name)
            names.update(name + suffix for suffix in SAMPLE_SUFFIXES.get(kind, ()))
    return names


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """What the facade and the sidecar serve on /metrics, started with defaults and no model yet."""
    from drift.drift_service import create_app as sidecar_app
    from drift.settings import DriftSettings
    from scoring.main import create_app as facade_app
    from scoring.settings import ScoringSettings

    layout = DataLayout(tmp_path_factory.mktemp("dashboard") / "predmaint")
    names: set[str] = set()
    for app in (
        facade_app(ScoringSettings(), layout=layout, registry=CollectorRegistry()),
        sidecar_app(DriftSettings(background=False), layout=layout, registry=CollectorRegistry()),
    ):
        with TestClient(app) as client:
            response = client.get("/metrics")
            assert response.status_code == 200
            names |= _exported(response.text)
    return names


def _model() -> dict[str, Any]:
    return dict(json.loads(pred_maint.JSON_PATH.read_text()))


def unknown_metrics(queries: Iterable[str], exported: set[str]) -> set[str]:
    return {m for q in queries for m in METRIC_RE.findall(q)} - exported


def test_committed_json_is_the_generated_dashboard() -> None:
    assert pred_maint.JSON_PATH.read_text() == pred_maint.render(), (
        "infra/dashboards/pred-maint.json is stale: run python -m infra.dashboards.pred_maint"
    )


def test_every_queried_metric_is_exported_by_the_services(exported: set[str]) -> None:
    queries = pred_maint.queries(_model())
    assert len(queries) >= 20
    assert unknown_metrics(queries, exported) == set()
    # the checker is not vacuous: a misspelt counter (no _total) is reported
    assert unknown_metrics(["rate(predmaint_scoring_predictions[5m])"], exported) == {
        "predmaint_scoring_predictions"
    }
    # the retrain alert's input and the scoring essentials are on the board
    used = {m for q in queries for m in METRIC_RE.findall(q)}
    assert {"predmaint_drift_detected", "predmaint_scoring_predictions_total"} <= used


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    queries = pred_maint.queries(_model())
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [{"record": f"dashboard:q{i}", "expr": q} for i, q in enumerate(queries)],
            }
        ]
    }
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump(rules))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_panels_have_unique_ids_and_query_the_chosen_datasource() -> None:
    model = _model()
    panels = model["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    variables = {v["name"]: v for v in model["templating"]["list"]}
    assert variables[pred_maint.DATASOURCE_VARIABLE]["query"] == "prometheus"
    for panel in panels:
        targets = panel.get("targets", [])
        assert len({t["refId"] for t in targets}) == len(targets) and all(t["refId"] for t in targets)
        for target in targets:
            assert target["datasource"]["uid"] == "${" + pred_maint.DATASOURCE_VARIABLE + "}"


def _resources(path: Path) -> dict[str, dict[str, Any]]:
    import hcl2

    def uq(value: Any) -> Any:
        return value.strip('"') if isinstance(value, str) else value

    found: dict[str, dict[str, Any]] = {}
    for block in hcl2.loads(path.read_text())["resource"]:
        for kind, instances in block.items():
            for name, body in instances.items():
                found[f"{uq(kind)}.{uq(name)}"] = {uq(k): v for k, v in body.items()}
    return found


def test_managed_grafana_reads_the_monitor_workspace_and_the_workflow_provisions_this_dashboard() -> None:
    repo = pred_maint.JSON_PATH.parents[2]
    resources = _resources(repo / "infra" / "main.grafana.tf")
    grafana = resources["azurerm_dashboard_grafana.main"]
    (integration,) = grafana["azure_monitor_workspace_integrations"]
    assert "azurerm_monitor_workspace.main.id" in integration["resource_id"]
    assert grafana["api_key_enabled"] is False, "Entra ID sign-in only"
    assert grafana["identity"][0]["type"] == '"SystemAssigned"'  # python-hcl2 keeps the quotes
    reader = resources["azurerm_role_assignment.grafana_monitoring_reader"]
    assert reader["role_definition_name"] == '"Monitoring Data Reader"'
    assert "azurerm_monitor_workspace.main.id" in reader["scope"]
    assert "azurerm_dashboard_grafana.main.identity[0].principal_id" in reader["principal_id"]
    assert 'output "grafana_name"' in (repo / "infra" / "outputs.tf").read_text()
    deploy = yaml.safe_load((repo / ".github" / "workflows" / "deploy.yml").read_text())
    run = "\n".join(step.get("run", "") for step in deploy["jobs"]["grafana"]["steps"])
    assert "az grafana dashboard create" in run and "--overwrite true" in run
    assert f"--definition {pred_maint.JSON_PATH.relative_to(repo)}" in run
    assert "terraform output -raw grafana_name" in (repo / ".github" / "workflows" / "deploy.yml").read_text()
