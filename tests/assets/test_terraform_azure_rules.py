"""infra/ against what Azure accepts beyond the provider schema (infra/checks/tf_azure_rules.py): the
real configuration passes every rule, and putting back each defect that issue 10 found makes the
rule that guards it fail. Azure itself cannot be reached here, so each rule encodes a documented
Azure constraint (the module's docstring names the source)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from infra.checks.tf_azure_rules import AKS_END_OF_LIFE, RULES, aks_version, check, load

INFRA = Path(__file__).resolve().parents[2] / "infra"

# (issue 10 finding, file, text in the fixed configuration, the defect put back, rule that must fail)
DEFECTS = [
    (
        "1 ACR content trust",
        "main.registry.tf",
        "  quarantine_policy_enabled     = false\n",
        "  quarantine_policy_enabled     = false\n  trust_policy_enabled          = true\n",
        "acr-content-trust",
    ),
    (
        "2 local accounts disabled with the AzureML extension",
        "main.aks.tf",
        "local_account_disabled            = false",
        "local_account_disabled            = true",
        "aks-local-accounts",
    ),
    (
        "3 namespace not created before the attach",
        "main.ml.tf",
        "depends_on = [azurerm_kubernetes_cluster_extension.azureml, azapi_resource.aml_namespace]",
        "depends_on = [azurerm_kubernetes_cluster_extension.azureml]",
        "aml-namespace",
    ),
    (
        "4 Kubernetes past AKS support",
        "variables.tf",
        'default     = "1.36"',
        'default     = "1.31"',
        "aks-version",
    ),
    (
        "6 no predmaint datastore",
        "main.ml.tf",
        'name         = "predmaint"',
        'name         = "features"',
        "aml-datastores",
    ),
    (
        "10 deployer without a data role on the workspace storage",
        "main.ml.tf",
        '    deployer-blob     = { scope = "workspace", role = "Storage Blob Data Contributor", '
        'principal = "deployer" }\n',
        "",
        "identity-storage",
    ),
    (
        "10 Function without a data role on the workspace storage",
        "main.ml.tf",
        '    function-blob     = { scope = "workspace", role = "Storage Blob Data Contributor", '
        'principal = "function" }\n',
        "",
        "identity-storage",
    ),
    (
        "15 Function without VNet integration",
        "main.functions.tf",
        '  virtual_network_subnet_id = azurerm_subnet.main["functions"].id\n',
        "",
        "private-function",
    ),
    (
        "15 Function traffic not routed through the VNet",
        "main.functions.tf",
        "vnet_route_all_enabled                 = true",
        "vnet_route_all_enabled                 = false",
        "private-function",
    ),
    (
        "15 Function host storage without a queue private endpoint",
        "main.network.tf",
        'subresource = "queue"',
        'subresource = "blob"',
        "private-function",
    ),
    (
        "15 private registry without an image build compute",
        "main.ml.tf",
        "  image_build_compute_name = local.training_compute_name\n",
        "",
        "private-image-build",
    ),
    (
        "17 Redis key in a URL without urlencode",
        "main.keyvault.tf",
        "${urlencode(azurerm_redis_cache.main.primary_access_key)}",
        "${azurerm_redis_cache.main.primary_access_key}",
        "urlencode-secret",
    ),
    (
        "20 KubernetesConfiguration not registered",
        "providers.tf",
        '  resource_providers_to_register = ["Microsoft.KubernetesConfiguration"]\n',
        "",
        "provider-registration",
    ),
    (
        "review of issue 12: the KEDA add-on is not enabled",
        "main.aks.tf",
        "    keda_enabled = true\n",
        "    keda_enabled = false\n",
        "keda-identity",
    ),
    (
        "review of issue 12: KEDA's operator is not federated with the workers' identity",
        "locals.tf",
        '  keda_operator_subject = "system:serviceaccount:kube-system:keda-operator"\n',
        '  keda_operator_subject = "system:serviceaccount:pred-maint:keda-operator"\n',
        "keda-identity",
    ),
]


def test_infra_passes_every_azure_rule() -> None:
    assert check(INFRA) == []


@pytest.mark.parametrize(("finding", "file", "fixed", "defect", "rule"), DEFECTS, ids=[d[0] for d in DEFECTS])
def test_putting_a_defect_back_fails_its_rule(
    tmp_path: Path, finding: str, file: str, fixed: str, defect: str, rule: str
) -> None:
    config = tmp_path / "infra"
    shutil.copytree(INFRA, config, ignore=shutil.ignore_patterns("checks", "__pycache__"))
    text = (config / file).read_text()
    assert text.count(fixed) == 1, f"{finding}: the fixed text is no longer in {file}; update DEFECTS"
    (config / file).write_text(text.replace(fixed, defect))
    problems = check(config)
    assert problems and all(problem.startswith(f"{rule}: ") for problem in problems), problems


def test_every_rule_is_exercised_by_a_defect() -> None:
    assert {defect[-1] for defect in DEFECTS} == set(RULES)


def test_kubernetes_version_fails_once_past_its_aks_end_of_life() -> None:
    config = load(INFRA)
    default = config.variables["kubernetes_version"]["default"].strip('"')
    end = AKS_END_OF_LIFE[default]
    assert aks_version(config, today=end) == []
    assert aks_version(config, today=end + dt.timedelta(days=1)), "a version past its end of life passes"


def test_the_keda_rule_sees_the_charts_workload_identity_trigger() -> None:
    """Guards the keda-identity rule against a chart change that would make it check nothing."""
    from infra.checks.tf_azure_rules import _chart_uses_keda_workload_identity

    assert _chart_uses_keda_workload_identity()
