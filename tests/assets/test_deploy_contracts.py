"""Names that two deployment assets must agree on: Terraform's federated credential subject and the
chart's ServiceAccount and the workflow's namespace; the attached Kubernetes compute and the AzureML
endpoint; the ports and probe paths of the images and the chart; the files the workflow uses."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from infra.checks.tf_graph import parse_file

REPO = Path(__file__).resolve().parents[2]


def _variable_defaults() -> dict[str, object]:
    defaults: dict[str, object] = {}
    for block in parse_file(REPO / "infra/variables.tf")["variable"]:
        for name, body in block.items():
            if "default" in body:
                value = body["default"]
                defaults[name.strip('"')] = value.strip('"') if isinstance(value, str) else value
    return defaults


def test_workload_identity_subject_matches_the_chart_and_the_workflow() -> None:
    defaults = _variable_defaults()
    values = yaml.safe_load((REPO / "charts/pred-maint/values.yaml").read_text())
    assert values["serviceAccount"]["name"] == defaults["app_service_account"]
    workflow = yaml.safe_load((REPO / ".github/workflows/deploy.yml").read_text())
    assert workflow["env"]["RELEASE_NAMESPACE"] == defaults["app_namespace"]
    assert (
        "system:serviceaccount:${var.app_namespace}:${var.app_service_account}"
        in (REPO / "infra/locals.tf").read_text()
    )


def test_endpoint_targets_the_kubernetes_compute_that_terraform_attaches() -> None:
    endpoint = REPO / "aml/endpoints/endpoint.yml"
    assert endpoint.is_file(), "aml/endpoints/endpoint.yml is not written yet"
    spec = yaml.safe_load(endpoint.read_text())
    compute = spec.get("compute", "")
    assert compute == f"azureml:{_variable_defaults()['aml_kubernetes_compute_name']}", compute
    workflow = yaml.safe_load((REPO / ".github/workflows/deploy.yml").read_text())
    assert workflow["env"]["ENDPOINT_NAME"] == spec["name"], (
        "deploy.yml must roll out the endpoint of endpoint.yml"
    )
    for name in ("blue.yml", "green.yml", "sample-request.json"):
        assert (REPO / "aml/endpoints" / name).is_file(), f"aml/endpoints/{name} is not written yet"


def test_images_listen_where_the_chart_probes() -> None:
    values = yaml.safe_load((REPO / "charts/pred-maint/values.yaml").read_text())
    assert values["facade"]["port"] == 8000 and values["drift"]["port"] == 8001
    for dockerfile, port in (("scoring/Dockerfile", 8000), ("drift/Dockerfile", 8001)):
        path = REPO / dockerfile
        assert path.is_file(), f"{dockerfile} is not written yet"
        exposed = re.findall(r"^EXPOSE\s+(\d+)", path.read_text(), flags=re.MULTILINE)
        assert exposed in ([], [str(port)]), f"{dockerfile} exposes {exposed}, the chart expects {port}"
